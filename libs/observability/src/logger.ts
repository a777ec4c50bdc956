import pino, { type Logger } from 'pino';

export type { Logger } from 'pino';

/** Key hashes (64 hex) and job tokens (32 hex) as they can appear inside error texts (e.g. a database client quoting its arguments). */
const CREDENTIAL_LIKE = /\b(?:[0-9a-f]{64}|[0-9a-f]{32})\b/gi;

/** Error texts with anything that looks like a key hash or a job token replaced (depth-bounded). */
export function scrubCredentials(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return value.replace(CREDENTIAL_LIKE, '[redacted]');
  if (depth > 4 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => scrubCredentials(v, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrubCredentials(v, depth + 1)]));
}

/**
 * Structured JSON logs on stdout. Secrets and key hashes never reach them: well-known fields are
 * censored, and error fields are scrubbed of anything shaped like a key hash or a job token.
 */
export function createLogger(app: string, level: string = 'info', destination?: pino.DestinationStream): Logger {
  return pino(
    {
      name: app,
      level,
      base: { app, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: [
          'req.headers.authorization',
          'req.headers["x-api-key"]',
          'req.headers["x-job-token"]',
          'req.headers.cookie',
          '*.secret',
          '*.token',
          'token',
          'ownerKeyHash',
          '*.ownerKeyHash',
          'owner_key_hash',
          '*.owner_key_hash',
          'apiKey',
          '*.apiKey',
        ],
        censor: '***',
      },
      formatters: {
        level: (label) => ({ level: label }),
        log: (object) => {
          for (const field of ['err', 'error', 'reason', 'stderr']) {
            if (field in object) object[field] = scrubCredentials(object[field]);
          }
          return object;
        },
      },
    },
    destination,
  );
}

/** Nest injection token of the process's Logger. */
export const LOGGER = Symbol('Logger');
