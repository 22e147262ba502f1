// Builds an offline GraphiQL 5 bundle: buildIde(outDir, { basePath, endpoint }).
// CLI: node build.mjs <outDir> [basePath]
import { build } from 'esbuild';
import { mkdir, rm, writeFile, readdir, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

const WORKERS = {
  'editor.worker': 'monaco-editor/esm/vs/editor/editor.worker.js',
  'json.worker': 'monaco-editor/esm/vs/language/json/json.worker.js',
  'graphql.worker': 'monaco-graphql/esm/graphql.worker.js',
};

// graphiql/style.css already contains Monaco's CSS (and the codicon font inlined), so the
// per-module CSS imports inside monaco-editor's ESM build are dropped instead of being emitted
// as duplicate, never-loaded chunk CSS files.
const dropMonacoCss = {
  name: 'drop-monaco-css',
  setup(b) {
    b.onResolve({ filter: /\.css$/ }, (a) =>
      /[\\/]node_modules[\\/]monaco-editor[\\/]/.test(a.importer) ? { path: a.path, namespace: 'empty-css' } : undefined);
    b.onLoad({ filter: /.*/, namespace: 'empty-css' }, () => ({ contents: '', loader: 'empty' }));
  },
};

const common = {
  bundle: true,
  minify: true,
  legalComments: 'none',
  target: 'es2022',
  logLevel: 'warning',
  absWorkingDir: here,
  define: { 'process.env.NODE_ENV': '"production"' },
  loader: { '.ttf': 'file', '.woff': 'file', '.woff2': 'file', '.svg': 'file' },
  plugins: [dropMonacoCss],
};

const escapeAttr = (s) => String(s).replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

export function renderHtml({ basePath = '/graphql/ide', endpoint = '/graphql', title = 'GraphiQL' } = {}) {
  const base = escapeAttr(basePath.replace(/\/+$/, ''));
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeAttr(title)}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${base}/app.css">
<style>html,body{height:100%;margin:0}#graphiql{height:100vh}</style>
</head>
<body>
<div id="graphiql" data-endpoint="${escapeAttr(endpoint)}">Loading&hellip;</div>
<script type="module" src="${base}/app.js"></script>
</body>
</html>
`;
}

export async function buildIde(outDir, options = {}) {
  const out = resolve(outDir);
  if (here === out || here.startsWith(out + sep)) throw new Error(`refusing to wipe ${out}: it contains build.mjs`);
  const started = performance.now();
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });

  await Promise.all([
    // App: ESM with code splitting (prettier, graphql-ws, etc. are lazy chunks); CSS -> app.css.
    build({
      ...common,
      entryPoints: { app: join(here, 'entry.jsx') },
      outdir: out,
      format: 'esm',
      splitting: true,
      jsx: 'automatic',
      chunkNames: 'chunks/[name]-[hash]',
      assetNames: 'assets/[name]-[hash]',
    }),
    // Monaco workers: classic (IIFE) scripts, loaded via MonacoEnvironment.getWorker in entry.jsx.
    build({
      ...common,
      entryPoints: Object.fromEntries(Object.entries(WORKERS).map(([k, v]) => [k, require.resolve(v)])),
      outdir: out,
      format: 'iife',
    }),
  ]);

  await writeFile(join(out, 'index.html'), renderHtml(options));
  return { outDir: out, ms: Math.round(performance.now() - started), bytes: await dirSize(out) };
}

async function dirSize(dir) {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    total += e.isDirectory() ? await dirSize(p) : (await stat(p)).size;
  }
  return total;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const [outDir = 'dist', basePath] = process.argv.slice(2);
  const r = await buildIde(outDir, basePath ? { basePath } : {});
  console.log(`built ${r.outDir} in ${r.ms} ms, ${(r.bytes / 1048576).toFixed(2)} MiB`);
}
