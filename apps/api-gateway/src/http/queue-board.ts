import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { KilnConfig } from '@kiln/config';
import { KilnError, QueueName } from '@kiln/contracts';
import type { QueueProducer } from '@kiln/queue';
import { hashKey } from '../auth/principal';

export const QUEUE_BOARD_PATH = '/admin/queues';

/**
 * The API key a browser or script sends to the admin pages: X-Api-Key, Bearer, or HTTP Basic with
 * the key as the password (so a browser can log in). A wrong or missing key is a 401 challenge.
 */
export function adminAuth(config: KilnConfig): RequestHandler {
  const hashes = new Set(config.KILN_API_KEYS.map(hashKey));
  return (req: Request, res: Response, next: NextFunction) => {
    let key = req.header('x-api-key');
    const auth = req.header('authorization') ?? '';
    if (!key && /^Bearer\s+/i.test(auth)) key = auth.replace(/^Bearer\s+/i, '').trim();
    if (!key && /^Basic\s+/i.test(auth)) {
      const decoded = Buffer.from(auth.replace(/^Basic\s+/i, ''), 'base64').toString('utf8');
      key = decoded.slice(decoded.indexOf(':') + 1);
    }
    if (key && hashes.has(hashKey(key))) return next();
    res.setHeader('WWW-Authenticate', 'Basic realm="Kiln admin", charset="UTF-8"');
    res.status(401).json(new KilnError('unauthorized', 'The queue board needs an API key (X-Api-Key, Bearer, or Basic with the key as password).').toBody());
  };
}

/** Bull Board over every Kiln queue, mounted behind the API key. */
export function queueBoard(producer: QueueProducer): RequestHandler {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(QUEUE_BOARD_PATH);
  createBullBoard({
    queues: Object.values(QueueName).map((name) => new BullMQAdapter(producer.queue(name))),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'Kiln queues' } },
  });
  return serverAdapter.getRouter() as RequestHandler;
}
