import pino, { type Logger } from 'pino';

export type { Logger } from 'pino';

/** Structured JSON logs on stdout; secrets in well-known places are redacted. */
export function createLogger(app: string, level: string = 'info'): Logger {
  return pino({
    name: app,
    level,
    base: { app, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: ['req.headers.authorization', 'req.headers["x-api-key"]', 'req.headers["x-job-token"]', '*.secret', '*.token', 'token'],
      censor: '***',
    },
    formatters: { level: (label) => ({ level: label }) },
  });
}
