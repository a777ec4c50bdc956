import { createHash, timingSafeEqual } from 'node:crypto';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { KilnConfig } from '@kiln/config';
import { KilnError, QueueName } from '@kiln/contracts';
import type { QueueProducer } from '@kiln/queue';
import { hashKey } from '../auth/principal';

export const QUEUE_BOARD_PATH = '/admin/queues';

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/** Equal in constant time (both sides hashed first, so their lengths say nothing either). */
export function sameSecret(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/** The credential a browser or script sends: Bearer, HTTP Basic (the password), or X-Admin-Token / X-Api-Key / X-Oc-Api-Key. */
function credentialOf(req: Request): string | undefined {
  const auth = req.header('authorization') ?? '';
  if (/^Bearer\s+/i.test(auth)) return auth.replace(/^Bearer\s+/i, '').trim();
  if (/^Basic\s+/i.test(auth)) {
    const decoded = Buffer.from(auth.replace(/^Basic\s+/i, ''), 'base64').toString('utf8');
    return decoded.slice(decoded.indexOf(':') + 1);
  }
  return req.header('x-admin-token') ?? req.header('x-api-key') ?? req.header('x-oc-api-key') ?? undefined;
}

function refuse(res: Response, error: KilnError, challenge: boolean): void {
  if (challenge) res.setHeader('WWW-Authenticate', 'Basic realm="Kiln admin", charset="UTF-8"');
  res.setHeader('Cache-Control', 'no-store');
  res.status(error.status).json(error.toBody());
}

/** How the board finds a managed key: its scopes when it exists and is not revoked. */
export interface ManagedKeyLookup {
  lookup(keyHash: string): Promise<{ scopes: readonly string[] } | undefined>;
}

/**
 * Operator-only routes: the operator credential (KILN_ADMIN_TOKEN) or a managed API key with the
 * `admin` scope. Any other API key is recognised and refused (403); anything else is a 401 (with a
 * Basic challenge, so a browser can log in: any user name, the token or admin key as password).
 * Without a configured token only an admin key opens the board.
 */
export function adminAuth(config: KilnConfig, keys?: ManagedKeyLookup): RequestHandler {
  const tenantHashes = new Set(config.KILN_API_KEYS.map(hashKey));
  const token = config.KILN_ADMIN_TOKEN;
  return (req: Request, res: Response, next: NextFunction) => {
    const given = credentialOf(req);
    if (given !== undefined && token && sameSecret(given, token)) return next();
    const forbidden = () =>
      refuse(
        res,
        new KilnError(
          'forbidden',
          'The queue board is for operators: it needs the admin token or an API key with the scope "admin".',
        ),
        false,
      );
    if (given !== undefined && tenantHashes.has(hashKey(given))) return forbidden();
    const rest = () => {
      if (!token && !keys)
        return refuse(
          res,
          new KilnError('unauthorized', 'The queue board is off: the operator sets KILN_ADMIN_TOKEN to open it.'),
          false,
        );
      refuse(
        res,
        new KilnError(
          'unauthorized',
          'The queue board needs the admin token or an admin API key (Authorization: Bearer, or Basic with it as password).',
        ),
        true,
      );
    };
    if (given === undefined || !keys) return rest();
    keys.lookup(hashKey(given)).then(
      (managed) => {
        if (!managed) return rest();
        if (managed.scopes.includes('admin')) return next();
        forbidden();
      },
      (err: unknown) => next(err),
    );
  };
}

/** Bull Board over every Kiln queue, read-only unless configured otherwise. Mount behind adminAuth. */
export function queueBoard(producer: QueueProducer, options: { readOnly: boolean }): RequestHandler {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(QUEUE_BOARD_PATH);
  createBullBoard({
    queues: Object.values(QueueName).map(
      (name) => new BullMQAdapter(producer.queue(name), { readOnlyMode: options.readOnly }),
    ),
    serverAdapter,
    options: { uiConfig: { boardTitle: options.readOnly ? 'Kiln queues (read-only)' : 'Kiln queues' } },
  });
  return serverAdapter.getRouter() as RequestHandler;
}
