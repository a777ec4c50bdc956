import { parseByteSize } from '@kiln/contracts';
import { z } from 'zod';

/**
 * One validated configuration, read once at start by each app. A wrong or missing value stops the
 * process at start with one line naming the variable (see `loadConfig`). Secrets are kept out of
 * `describeConfig`.
 */
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const int = (def: number, min = 0) => z.coerce.number().int().min(min).default(def);
/** A byte size read by the one shared rule (`parseByteSize`): `64KiB`, `16MiB`, `10GiB` binary; `100MB` decimal. */
const bytes = (def: number) =>
  z
    .string()
    .default(String(def))
    .transform((v, ctx) => {
      const n = parseByteSize(v);
      if (n === undefined) {
        ctx.addIssue({ code: 'custom', message: 'expected a byte size such as 104857600, 100MiB or 2GiB' });
        return z.NEVER;
      }
      return n;
    });
const url = z.string().url();

export const configSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  KILN_PORT: int(3000, 1),
  KILN_HOST: z.string().default('0.0.0.0'),
  /** Base URL clients reach the gateway at (used in links such as upload `location`). */
  KILN_PUBLIC_URL: url.optional(),
  KILN_API_KEYS: z
    .string()
    .min(1, 'set at least one API key (comma separated)')
    .transform((v) =>
      v
        .split(',')
        .map((k) => k.trim())
        .filter(Boolean),
    )
    .refine(
      (keys) => keys.length > 0 && keys.every((k) => k.length >= 16),
      'each API key needs at least 16 characters',
    ),
  /**
   * Key of the HMAC-SHA256 signature on callbacks (X-Kiln-Signature), for keys without one of their
   * own. Rotation: `new,old` signs every callback with both (one `v1=` each) until the old is removed.
   */
  KILN_WEBHOOK_SECRET: z
    .string()
    .refine(
      (v) => v.split(',').every((s) => s.trim().length >= 16),
      'needs at least 16 characters (each, when two are given for a rotation)',
    ),
  /**
   * Callback secrets per API key: `<key id>=<secret>[,<old secret>];…`, where the key id is the first
   * 12 hex characters of the key's SHA-256 (`printf %s "$KEY" | sha256sum | cut -c1-12`). A key listed
   * here signs its jobs' callbacks with its own secrets only.
   */
  KILN_KEY_WEBHOOK_SECRETS: z
    .string()
    .transform((v, ctx) => {
      const byKey: Record<string, string[]> = {};
      for (const entry of v
        .split(/[;\n]/)
        .map((e) => e.trim())
        .filter(Boolean)) {
        const m = /^([0-9a-f]{12})=(.+)$/i.exec(entry);
        const secrets = m ? m[2].split(',').map((s) => s.trim()) : [];
        if (!m || secrets.length === 0 || secrets.length > 2 || secrets.some((s) => s.length < 16)) {
          ctx.addIssue({
            code: 'custom',
            message: 'expected <12 hex key id>=<secret>[,<old secret>];… with secrets of 16+ characters',
          });
          return z.NEVER;
        }
        byKey[m[1].toLowerCase()] = secrets;
      }
      return byKey;
    })
    .optional(),
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'expected postgresql://user@host:port/db'),
  /** One Redis server. Required unless REDIS_CLUSTER_NODES is set. */
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'expected redis://host:port')
    .optional(),
  /**
   * Redis Cluster mode: comma-separated seed nodes (`host:port`, or `redis[s]://[user:password@]host:port`;
   * credentials and TLS of the first apply to every node). Every queue, worker, lock, limit and channel
   * then uses one cluster-aware connection, and KILN_QUEUE_PREFIX must carry a hash tag such as {kiln}.
   */
  REDIS_CLUSTER_NODES: z
    .string()
    .transform((v) =>
      v
        .split(',')
        .map((n) => n.trim())
        .filter(Boolean),
    )
    .refine(
      (nodes) =>
        nodes.length > 0 &&
        nodes.every((n) => /^(rediss?:\/\/([^@/]*@)?)?(\[[0-9a-f:.]+\]|[^:/@\s]+):\d{1,5}\/?$/i.test(n)),
      'expected host:port[,host:port…] (or redis://[user:password@]host:port entries)',
    )
    .optional(),
  /** Prefix of every BullMQ key; a hash tag such as {kiln} keeps a queue in one Redis Cluster slot. */
  KILN_QUEUE_PREFIX: z.string().min(1).default('kiln'),
  S3_ENDPOINT: url,
  S3_PUBLIC_ENDPOINT: url.optional(),
  S3_ACCESS_KEY: z.string().min(1),
  S3_SECRET_KEY: z.string().min(1),
  S3_BUCKET: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'expected an S3 bucket name')
    .default('kiln'),
  S3_REGION: z.string().default('us-east-1'),
  S3_PART_SIZE: bytes(16 * 1024 ** 2),
  /**
   * Bytes relayed to S3 between two minor collections (libs/storage relay-collection.ts), which keep
   * the dead pieces of busy streams from piling up; 0 turns them off. Needs NODE_OPTIONS=--expose-gc.
   */
  KILN_RELAY_GC_BYTES: bytes(4 * 1024 ** 2),
  /** Direct uploads: clients send their bytes straight to S3 with URLs the gateway presigns. */
  KILN_DIRECT_UPLOADS: bool.default(true),
  /** The S3 endpoint as clients reach it (direct uploads are signed for this host); default S3_PUBLIC_ENDPOINT, then S3_ENDPOINT. */
  KILN_S3_PUBLIC_URL: url.optional(),
  /** Default part size of a direct multipart upload (5 MiB..5 GiB). */
  KILN_DIRECT_PART_SIZE: bytes(16 * 1024 ** 2).pipe(
    z
      .number()
      .min(5 * 1024 ** 2, 'must be at least 5MiB')
      .max(5 * 1024 ** 3, 'must be at most 5GiB'),
  ),
  /** A direct upload of at most this size gets a presigned POST form; larger ones a multipart upload. */
  KILN_DIRECT_FORM_MAX: bytes(16 * 1024 ** 2).pipe(z.number().max(5 * 1024 ** 3, 'must be at most 5GiB')),
  /** Expiry of presigned part URLs and POST forms. */
  KILN_DIRECT_URL_TTL_SECONDS: z.coerce.number().int().min(60).max(604_800).default(3600),
  /** Origins of the bucket CORS rule the gateway puts at start (comma separated; `*` = any). */
  KILN_S3_CORS_ORIGINS: z
    .string()
    .default('*')
    .transform((v) =>
      v
        .split(',')
        .map((o) => o.trim())
        .filter(Boolean),
    )
    .refine((o) => o.length > 0, 'needs at least one origin (or *)'),
  KILN_MAX_FILE_SIZE: bytes(10 * 1024 ** 3),
  /** Smallest chunk accepted (all but the last); chunks of 5 MiB or more are assembled server-side. */
  KILN_CHUNK_SIZE_MIN: bytes(64 * 1024),
  KILN_CHUNK_SIZE_MAX: bytes(64 * 1024 ** 2),
  KILN_UPLOAD_TTL_SECONDS: int(7 * 24 * 3600, 60),
  KILN_DOWNLOAD_URL_TTL_SECONDS: int(6 * 3600, 60),
  /** A job's files and rows are deleted this long after it ends, unless it was created with its own `expires_at`. */
  KILN_JOB_RETENTION_SECONDS: int(24 * 3600, 60),
  /** Objects under Kiln's prefixes with no job or upload row are deleted once older than this. */
  KILN_ORPHAN_MIN_AGE_SECONDS: int(24 * 3600, 3600),
  KILN_CONVERTER_CONCURRENCY: int(1, 1),
  /**
   * The engines this converter runs, each fed by its own queue (`convert`, `convert-vips`,
   * `convert-office`), so document converters scale apart from media converters.
   */
  KILN_CONVERTER_ENGINES: z
    .string()
    .default('ffmpeg,vips,office')
    .transform((v) => [
      ...new Set(
        v
          .split(',')
          .map((e) => e.trim().toLowerCase())
          .filter(Boolean),
      ),
    ])
    .pipe(z.array(z.enum(['ffmpeg', 'vips', 'office'])).min(1)),
  /** PDF pages rendered to images when a job asks for no single page. */
  KILN_MAX_PAGES: int(200, 1),
  /** LibreOffice's path (Debian: soffice on PATH). */
  KILN_SOFFICE_PATH: z.string().default('soffice'),
  KILN_ASSEMBLER_CONCURRENCY: int(4, 1),
  KILN_CONVERSION_TIMEOUT_SECONDS: int(3600, 1),
  /** A converter that stops renewing its lock (crashed) loses the unit to another after this long. */
  KILN_CONVERT_LOCK_SECONDS: int(60, 2),
  /** Largest output file, whatever the input (the largest input, KILN_MAX_FILE_SIZE, by default). */
  KILN_MAX_OUTPUT_SIZE: bytes(10 * 1024 ** 3),
  /**
   * Media limits (libs/media media-limits.ts), checked from the probe before anything is decoded.
   * Pixels per frame: 16384×8192 (a 360° panorama; above any camera sensor, 8K video is 33 MP);
   * its worst case, 16-bit RGBA, converts to every image target within the default memory limit.
   */
  KILN_MAX_PIXELS: int(16384 * 8192, 1),
  /** Width and height each, in pixels. */
  KILN_MAX_DIMENSION: int(16384, 1),
  /** Longest audio or video: a day (the catalog's trim options reach 86400 s; long audiobooks fit). */
  KILN_MAX_DURATION_SECONDS: int(24 * 3600, 1),
  /** Audio channels (16 covers 7.1.4 and 3rd-order ambisonics) and sample rate of the stream read. */
  KILN_MAX_AUDIO_CHANNELS: int(16, 1),
  KILN_MAX_SAMPLE_RATE: int(192_000, 1),
  /**
   * An output may be this many times its input (0 = no ratio), but outputs up to
   * KILN_OUTPUT_RATIO_FLOOR are always allowed. Uncompressed targets (wav, bmp, tiff) are estimated
   * from the probe and refused before running; others are stopped when they grow past it.
   */
  KILN_MAX_OUTPUT_RATIO: z.coerce.number().min(0).default(200),
  KILN_OUTPUT_RATIO_FLOOR: bytes(256 * 1024 ** 2),
  /**
   * Memory ffmpeg and ffprobe may map (RLIMIT_DATA through `prlimit`, util-linux); 0 = no limit.
   * A conversion that runs out of it fails `unprocessable`, naming this limit.
   */
  KILN_FFMPEG_MEMORY_LIMIT: bytes(4 * 1024 ** 3),
  KILN_FFMPEG_THREADS: int(0, 0),
  KILN_FFMPEG_PRESET: z
    .enum(['ultrafast', 'superfast', 'veryfast', 'faster', 'fast', 'medium', 'slow'])
    .default('veryfast'),
  KILN_TMP_DIR: z.string().default(''),
  KILN_CALLBACK_TIMEOUT_MS: int(10_000, 100),
  KILN_CALLBACK_ATTEMPTS: int(8, 1),
  /** A conversion unit is claimed at most this often (crashed or lost attempts included), then fails. */
  KILN_MAX_UNIT_ATTEMPTS: int(5, 1),
  /** How often each assembler compares PostgreSQL with the queues and re-drives lost work. */
  KILN_RECONCILE_INTERVAL_MS: int(30_000, 200),
  /** Work younger than this (or a unit whose converter beat more recently) is never re-driven. */
  KILN_RECONCILE_GRACE_MS: int(30_000, 100),
  KILN_CALLBACK_BACKOFF_MS: int(2_000, 10),
  KILN_ALLOW_PRIVATE_URLS: bool.default(false),
  /**
   * Remote inputs: a download that receives no byte for this long (DNS + connect, waiting for the
   * answer, or mid-body) is aborted; the attempt is retried while BullMQ attempts remain.
   */
  KILN_FETCH_TIMEOUT_SECONDS: int(30, 1),
  /** Remote inputs: the whole download, redirects included, must end within this; not retried. */
  KILN_FETCH_MAX_SECONDS: int(3600, 1),
  KILN_SHUTDOWN_GRACE_SECONDS: int(30, 0),
  /**
   * How long a gateway answers a managed API key from memory. A revocation over the API (or by
   * `kiln keys revoke --database` with REDIS_URL) reaches every gateway at once over Redis; this
   * bounds it when that message is lost or the key was revoked in the database by other means.
   */
  KILN_API_KEY_CACHE_MS: int(2000, 0),
  /** Requests per minute per API key (or job token's key); 0 = no limit. Over it: 429 with Retry-After. */
  KILN_RATE_LIMIT_PER_MINUTE: int(1200, 0),
  /** Uploads (whole files or chunks) streaming at once per API key, across all gateways; 0 = no limit. */
  KILN_MAX_CONCURRENT_UPLOADS_PER_KEY: int(32, 0),
  /**
   * Abuse limits per API key (job tokens and web sessions count against their key), shared by every
   * gateway replica; 0 = no limit. Open uploads: sessions, tus and chunked uploads not yet complete
   * or expired (429). Event streams: concurrent `GET /v1/jobs/{id}/events` (429). Jobs in flight:
   * jobs not completed, failed or canceled (429). Units per job: inputs × conversions (400).
   * Storage quota: stored input and output bytes of the key's jobs plus declared sizes of its open
   * uploads (413).
   */
  KILN_MAX_OPEN_UPLOADS_PER_KEY: int(100, 0),
  KILN_MAX_EVENT_STREAMS_PER_KEY: int(20, 0),
  KILN_MAX_JOBS_IN_FLIGHT_PER_KEY: int(1000, 0),
  KILN_MAX_UNITS_PER_JOB: int(100, 0),
  KILN_STORAGE_QUOTA_PER_KEY: bytes(0),
  /** Upload sessions with `expires_at: 0` (never expire) are refused (400) unless this is true. */
  KILN_ALLOW_NEVER_EXPIRING_UPLOADS: bool.default(false),
  /**
   * Key of the HMAC on the web page's session cookie, independent of every other secret. The web
   * page (`/` and `/web/*`) is served only when it is set; every gateway replica must share it.
   */
  KILN_WEB_SESSION_SECRET: z.string().min(32, 'needs at least 32 characters').optional(),
  /**
   * Operator credential for the queue board (`/admin/queues`) and other operator-only routes:
   * `Authorization: Bearer <token>` (or HTTP Basic with it as the password). Tenant API keys never
   * reach them. Unset: the board is off.
   */
  KILN_ADMIN_TOKEN: z.string().min(24, 'needs at least 24 characters').optional(),
  /** The queue board only shows (no pause, retry, add, clean…) unless this is false. */
  KILN_QUEUE_BOARD_READ_ONLY: bool.default(true),
  /**
   * Express `trust proxy`: which hops' X-Forwarded-For to believe for the client address (rate
   * limits on failed logins, logs). `false` (default): the socket's peer; `true`; a hop count; or
   * comma-separated addresses/CIDRs (`loopback`, `uniquelocal` allowed).
   */
  KILN_TRUST_PROXY: z
    .string()
    .default('false')
    .transform((v): boolean | number | string[] => {
      const t = v.trim().toLowerCase();
      if (['false', '0', 'no', ''].includes(t)) return false;
      if (['true', 'yes'].includes(t)) return true;
      if (/^\d+$/.test(t)) return Number(t);
      return t
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    }),
  /** A request's headers must arrive within this (slow-header clients are closed). */
  KILN_HEADERS_TIMEOUT_SECONDS: int(20, 1),
  /** A JSON or form body (not a file upload) must arrive whole within this; else 408 and the connection closes. */
  KILN_BODY_TIMEOUT_SECONDS: int(30, 1),
  /** A file upload that moves no byte for this long is closed (slow but moving uploads go on). */
  KILN_UPLOAD_IDLE_TIMEOUT_SECONDS: int(60, 1),
  /** Largest JSON request body. */
  KILN_JSON_BODY_LIMIT: bytes(256 * 1024),
  /** Failed authentications (API key, job token, login form) per client address per minute; over it: 429. 0 = off. */
  KILN_AUTH_FAILURES_PER_MINUTE: int(30, 0),
  /** Lifetime of a web page login (the session cookie) in seconds. */
  KILN_WEB_SESSION_TTL_SECONDS: int(12 * 3600, 60),
  KILN_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /**
   * When set, `GET /metrics` (gateway and workers) requires `Authorization: Bearer <token>`;
   * unset, it is public on the gateway's port (keep that port off the internet or set a token).
   */
  KILN_METRICS_TOKEN: z.string().min(16, 'needs at least 16 characters').optional(),
  /**
   * Workers (assembler, converter): port of their own HTTP server with /metrics, /health/live and
   * /health/ready, bound to KILN_HOST. 0 = no server. One variable for both apps so several
   * workers on one host each get their own port; compose sets 9464 in every container.
   */
  KILN_WORKER_HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(0),
});

export type KilnConfig = z.infer<typeof configSchema>;

/** Redis Cluster's rule: the text between the first `{` and the first `}` after it, when not empty, picks the slot. */
export function hasHashTag(key: string): boolean {
  const open = key.indexOf('{');
  return open >= 0 && key.indexOf('}', open + 1) > open + 1;
}

/** REDIS_URL is required unless the cluster's nodes are given; named with the other missing variables. */
function missingRedis(env: Record<string, string | undefined>): { variable: string; message: string }[] {
  return env.REDIS_URL === undefined && env.REDIS_CLUSTER_NODES === undefined
    ? [{ variable: 'REDIS_URL', message: 'is required' }]
    : [];
}

/** Rules across variables, checked after each variable parsed on its own. */
function crossChecks(config: KilnConfig): { variable: string; message: string }[] {
  const problems: { variable: string; message: string }[] = [];
  if (config.REDIS_CLUSTER_NODES && !hasHashTag(config.KILN_QUEUE_PREFIX)) {
    // BullMQ's scripts touch several keys of a queue at once: on a cluster they must share one slot.
    problems.push({
      variable: 'KILN_QUEUE_PREFIX',
      message: "needs a hash tag on a Redis Cluster, e.g. {kiln}, so each queue's keys share one slot",
    });
  }
  return problems;
}

export class ConfigError extends Error {
  constructor(readonly problems: { variable: string; message: string }[]) {
    super(problems.map((p) => `invalid configuration: ${p.variable}: ${p.message}`).join('\n'));
    this.name = 'ConfigError';
  }
}

/** Parses the environment. Throws ConfigError naming each bad variable (never echoing its value). */
export function parseConfig(env: NodeJS.ProcessEnv): KilnConfig {
  const withoutEmpty = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== ''));
  const result = configSchema.safeParse(withoutEmpty);
  if (result.success) {
    const problems = [...missingRedis(withoutEmpty), ...crossChecks(result.data)];
    if (problems.length) throw new ConfigError(problems);
    return result.data;
  }
  throw new ConfigError([
    ...result.error.issues.map((i) => {
      const variable = String(i.path[0] ?? '?');
      const missing = withoutEmpty[variable] === undefined;
      return {
        variable,
        message: missing
          ? 'is required'
          : i.code === 'invalid_type'
            ? `is not valid (${i.message.replace(/, received .*/, '')})`
            : i.message,
      };
    }),
    ...missingRedis(withoutEmpty),
  ]);
}

/** For apps: parse once; on error print one line per variable and exit(1). */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): KilnConfig {
  try {
    return parseConfig(env);
  } catch (err: unknown) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}

const SECRET = /KEY|SECRET|PASSWORD|TOKEN/i;

/** Configuration safe to log: secrets masked, passwords stripped from URLs. */
export function describeConfig(config: KilnConfig): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(config).map(([k, v]) => {
      if (SECRET.test(k)) return [k, '***'];
      if (typeof v === 'string' && /^[a-z]+:\/\/[^@/]*:[^@/]*@/i.test(v))
        return [k, v.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@')];
      return [k, v];
    }),
  );
}

export const KILN_CONFIG = Symbol('KilnConfig');
