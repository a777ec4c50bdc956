import type { QueueProducer } from '../producer';

/**
 * A producer for code under test that must not touch the queues (it decides in PostgreSQL only):
 * any use throws, so the test fails naming the call.
 */
export function noQueue(what: string): QueueProducer {
  return new Proxy({} as QueueProducer, {
    get: (_t, name) => {
      throw new Error(`${what} must not use the queue (called ${String(name)})`);
    },
  });
}
