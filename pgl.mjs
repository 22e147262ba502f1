import { PGlite } from '@electric-sql/pglite';
let t=Date.now(); const db = new PGlite(); await db.waitReady; console.log('mem init', Date.now()-t, 'ms', process.memoryUsage().rss/1e6|0, 'MB');
t=Date.now(); const r = await db.query("select pg_advisory_xact_lock(1), version()"); console.log(r.rows[0], Date.now()-t);
t=Date.now(); const d2 = new PGlite('/tmp/pgl-test-dir'); await d2.waitReady; console.log('dir init', Date.now()-t);
