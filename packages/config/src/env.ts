import { z } from 'zod';
import { isIP } from 'node:net';
import path from 'node:path';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Parses `env` against a zod object schema whose keys are variable names. The first problem is
 * reported as `Invalid configuration: NAME <what is wrong> (got "<value>")`, one line.
 */
export function parseEnv<Shape extends z.ZodRawShape>(shape: Shape, env: NodeJS.ProcessEnv): z.infer<z.ZodObject<Shape>> {
  const cleaned: Record<string, string> = {};
  for (const key of Object.keys(shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') cleaned[key] = value;
  }
  const result = z.object(shape).safeParse(cleaned);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const name = String(issue.path[0] ?? 'environment');
  const got = cleaned[name];
  const shown = got === undefined ? 'nothing' : JSON.stringify(isSecretName(name) ? '***' : got.slice(0, 80));
  throw new ConfigError(`Invalid configuration: ${name} ${issue.message} (got ${shown})`);
}

function isSecretName(name: string): boolean {
  return /SECRET|PASSWORD|TOKEN|KEY|DATABASE_URL|NATS_URL/.test(name);
}

const port = z.coerce
  .number({ message: 'must be a port number' })
  .int('must be a whole port number')
  .min(0, 'must be between 0 and 65535')
  .max(65535, 'must be between 0 and 65535');

/** One entry of TRUST_PROXY's list: a keyword proxy-addr knows, an IP address, or an address/prefix. */
function trustedProxyItem(item: string): boolean {
  if (item === 'loopback' || item === 'linklocal' || item === 'uniquelocal') return true;
  const [address = '', prefix, extra] = item.split('/');
  const family = isIP(address);
  if (family === 0 || extra !== undefined) return false;
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128));
}

const positiveInt = (max: number) =>
  z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(1, 'must be at least 1').max(max, `must be at most ${max}`);

const postgresUrl = z
  .string()
  .refine((value) => /^postgres(ql)?:\/\/.+/.test(value), { message: 'must be a postgres:// or postgresql:// URL' });

const httpUrl = z.string().refine((value) => /^https?:\/\/[^\s]+$/.test(value), { message: 'must be an http:// or https:// URL' });

const natsUrl = z.string().refine((value) => /^(nats|tls):\/\/[^\s]+$/.test(value), { message: 'must be a nats:// or tls:// URL' });

/** The variables shared by every process of the platform. */
export const envSchemas = {
  common: {
    NODE_ENV: z.enum(['development', 'production', 'test'], { message: 'must be development, production or test' }).default('development'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { message: 'must be one of fatal, error, warn, info, debug, trace, silent' }).default('info'),
    HOST: z.string().default('127.0.0.1'),
    DATA_DIR: z.string().default('./.data'),
    DATABASE_URL: postgresUrl.optional(),
    /**
     * Connections of a process's pool per PostgreSQL URL, shared by the services of the process.
     * An outbox relay (users, payments) holds one for its lock while its statements take others:
     * with two relays on one pool (`npm start`), a pool of 2 wedged for good (2026-12-01); 3 ran.
     */
    DATABASE_POOL_MAX: positiveInt(100)
      .min(3, 'must be at least 3 (an outbox relay holds one connection of its pool while it works; npm start runs two on one pool)')
      .default(10),
    /** Opening one PostgreSQL connection gives up after this long (a request then answers SERVICE_UNAVAILABLE). */
    DATABASE_CONNECT_TIMEOUT_MS: positiveInt(60_000).default(1_000),
    /**
     * PostgreSQL ends a session whose transaction sat idle this long (idle_in_transaction_session_timeout):
     * a process frozen or cut off mid-transaction releases its row locks then, instead of holding
     * them (and everyone queued behind them) until it wakes up.
     */
    DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: positiveInt(3_600_000)
      .min(1_000, 'must be at least 1000 (a busy machine can pause a healthy transaction between its statements for that long)')
      .default(15_000),
    /** Start-up waits this long for an unreachable PostgreSQL (retrying with backoff) before exiting 1. */
    DATABASE_STARTUP_WAIT_SECONDS: positiveInt(86_400).default(300),
    SERVICE_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
    /** During a rotation: one more secret accepted for service credentials and sealed values (see README). */
    SERVICE_SECRET_PREVIOUS: z.string().min(32, 'must be at least 32 characters').optional(),
    JWT_ISSUER: z.string().min(1).default('paygraph-auth'),
    JWT_AUDIENCE: z.string().min(1).default('paygraph'),
    AUTH_JWKS_URL: httpUrl.optional(),
    NATS_URL: natsUrl.optional(),
    NATS_STREAM: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1 to 64 letters, digits, _ or -').default('PAYGRAPH_EVENTS'),
    NATS_SUBJECT_PREFIX: z.string().regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'must be dot-separated tokens of letters, digits, _ or -').default('paygraph.events'),
    EVENT_TRANSPORT: z.enum(['in-process', 'postgres', 'nats'], { message: 'must be in-process, postgres or nats' }).optional(),
    /** Outbox and inbox rows older than this are pruned (never past what a durable consumer applied). */
    EVENT_RETENTION_SECONDS: positiveInt(315_360_000).default(2_592_000),
  },
  gateway: {
    PORT: port.default(4000),
    /** Live subscriptions per WebSocket, per user across sockets, and subscribe messages per socket and minute. */
    SUBSCRIPTIONS_PER_CONNECTION_MAX: positiveInt(1_000).default(20),
    SUBSCRIPTIONS_PER_USER_MAX: positiveInt(100_000).default(100),
    SUBSCRIBES_PER_MINUTE_MAX: positiveInt(100_000).default(120),
    /** Bytes of resolved events waiting for one WebSocket client that does not read; past it the socket is closed. */
    SUBSCRIPTION_QUEUED_BYTES_MAX: positiveInt(1_073_741_824).default(16_777_216),
    SUPERGRAPH_SOURCE: z.enum(['introspect', 'static'], { message: 'must be introspect or static' }).optional(),
    SUPERGRAPH_POLL_INTERVAL_MS: positiveInt(3_600_000).default(10_000),
    SUBGRAPH_TIMEOUT_MS: positiveInt(120_000).default(10_000),
    /**
     * Which proxies in front of the gateway are trusted to say the client's address in
     * X-Forwarded-For (rate limits, login throttles and logs key on it): `off` (the socket's peer is
     * the client), a number of proxy hops (1-10), or comma-separated addresses and CIDR ranges
     * (`loopback`, `linklocal`, `uniquelocal` name the usual ones).
     */
    TRUST_PROXY: z
      .string()
      .refine((value) => value === 'off' || /^(?:[1-9]|10)$/.test(value) || value.split(',').every((item) => trustedProxyItem(item.trim())), {
        message: 'must be off, a number of hops from 1 to 10, or comma-separated addresses, CIDR ranges, loopback, linklocal or uniquelocal',
      })
      .default('off'),
  },
  // --- edge protection: rate limits, login throttles, trusted documents (issue 11) ---
  edge: {
    /** `off` switches every rate limit and throttle off (load tests, benchmarks); logged as a warning. */
    RATE_LIMITS: z.enum(['on', 'off'], { message: 'must be on or off' }).default('on'),
    /** Shared store for the rate limits of several gateways (and users instances); in memory without it. */
    REDIS_URL: z.string().refine((value) => /^rediss?:\/\/[^\s]+$/.test(value), { message: 'must be a redis:// or rediss:// URL' }).optional(),
    /** Prefix of every rate-limit key in Redis (several deployments or test runs can share one Redis). */
    RATE_LIMIT_PREFIX: z.string().regex(/^[A-Za-z0-9:_.-]{1,64}$/, 'must be 1 to 64 letters, digits, :, _, . or -').default('paygraph:rate'),
    /** GraphQL requests per client (user id, else address) per minute at the gateway. */
    RATE_LIMIT_REQUESTS_PER_MINUTE: positiveInt(1_000_000).default(1_200),
    /** `login` and `refreshToken` operations per client per minute at the gateway. */
    RATE_LIMIT_LOGINS_PER_MINUTE: positiveInt(100_000).default(30),
    /** `registerUser` operations per client per hour (gateway and users subgraph). */
    RATE_LIMIT_REGISTRATIONS_PER_HOUR: positiveInt(100_000).default(30),
    /** Money-moving mutations (top-up, withdrawal, pay, capture, refund, ledger posting) per client per minute. */
    RATE_LIMIT_MONEY_MUTATIONS_PER_MINUTE: positiveInt(100_000).default(120),
    /** Failed logins of one client on one account before each further attempt waits (1 s, doubling). */
    LOGIN_FAILURES_FREE: positiveInt(100).default(5),
    /** The first wait after the free failures; each further failure doubles it (up to 900 s). */
    LOGIN_LOCK_SECONDS_FIRST: positiveInt(900).default(1),
    /** Failed logins on one account (all clients) in the window; over it, clients that failed on it wait. */
    LOGIN_ACCOUNT_FAILURES_MAX: positiveInt(100_000).default(50),
    /** Failed logins from one client (all accounts) in the window. */
    LOGIN_CLIENT_FAILURES_MAX: positiveInt(100_000).default(100),
    /** A login failure counter resets after this long without a failure. */
    LOGIN_THROTTLE_WINDOW_SECONDS: positiveInt(86_400).default(900),
    /** Trusted documents (persisted query safelist): off, log unknown documents, or enforce the manifest. */
    TRUSTED_DOCUMENTS: z.enum(['off', 'log', 'enforce'], { message: 'must be off, log or enforce' }).default('off'),
    /** The manifest: GraphQL Code Generator's persisted-documents.json or Apollo's persisted query list. */
    TRUSTED_DOCUMENTS_MANIFEST: z.string().min(1).default('schema/trusted-documents.json'),
  },
  // --- end edge protection ---
  auth: {
    ACCESS_TOKEN_TTL_SECONDS: positiveInt(86_400).default(900),
    REFRESH_TOKEN_TTL_SECONDS: positiveInt(31_536_000).default(2_592_000),
  },
  payments: {
    PAYMENT_HOLD_EXPIRY_SECONDS: positiveInt(31_536_000).default(604_800),
    /** How long a payment held for review waits for a decision before it is canceled (hold released). */
    PAYMENT_REVIEW_EXPIRY_SECONDS: positiveInt(31_536_000).default(604_800),
    PAYMENT_RECOVERY_INTERVAL_MS: positiveInt(3_600_000).default(30_000),
    EVENT_RELAY_INTERVAL_MS: positiveInt(60_000).default(200),
  },
  users: {
    ADMIN_EMAIL: z.string().optional(),
    ADMIN_PASSWORD: z.string().optional(),
  },
} as const;

const platformShape = { ...envSchemas.common, ...envSchemas.edge, ...envSchemas.gateway, ...envSchemas.auth, ...envSchemas.payments, ...envSchemas.users };
export type PlatformConfig = z.infer<z.ZodObject<typeof platformShape>> & { dataDir: string };

/** Every variable the platform reads, validated at once, with DATA_DIR made absolute. */
export function loadPlatformConfig(env: NodeJS.ProcessEnv = process.env): PlatformConfig {
  const parsed = parseEnv(platformShape, env);
  if ((parsed.ADMIN_EMAIL === undefined) !== (parsed.ADMIN_PASSWORD === undefined)) {
    throw new ConfigError('Invalid configuration: ADMIN_EMAIL and ADMIN_PASSWORD must be set together (or neither)');
  }
  // `memory://` keeps the embedded database in memory (tests); anything else is a folder.
  const dataDir = parsed.DATA_DIR.startsWith('memory://') ? parsed.DATA_DIR : path.resolve(parsed.DATA_DIR);
  return { ...parsed, dataDir };
}
