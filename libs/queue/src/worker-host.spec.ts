import type { QueueName } from '@kiln/contracts';
import { indexHandlers, type JobHandler } from './worker-host';

/** A handler that is never called: the registry only reads its queue. */
const handlerFor = <Q extends QueueName>(queue: Q): JobHandler<Q> => ({
  queue,
  handle: () => Promise.reject(new Error('not called in these tests')),
});

describe('indexHandlers (the handler registry a worker process starts from)', () => {
  it('finds the one handler of each consumed queue', () => {
    const convert = handlerFor('convert');
    const finalize = handlerFor('finalize');
    const callback = handlerFor('callback');
    const byQueue = indexHandlers([convert, finalize, callback], ['convert', 'finalize', 'callback']);
    expect([...byQueue.keys()].sort()).toEqual(['callback', 'convert', 'finalize']);
    expect(byQueue.get('convert')).toBe(convert);
    expect(byQueue.get('finalize')).toBe(finalize);
    expect(byQueue.get('callback')).toBe(callback);
  });

  it('refuses two handlers for one queue', () => {
    expect(() =>
      indexHandlers([handlerFor('assemble'), handlerFor('fetch'), handlerFor('assemble')], ['assemble', 'fetch']),
    ).toThrow('two handlers for queue "assemble"');
  });

  it('refuses a consumed queue without a handler', () => {
    expect(() => indexHandlers([handlerFor('assemble')], ['assemble', 'maintenance'])).toThrow(
      'no handler for queue "maintenance"',
    );
    expect(() => indexHandlers([], ['convert'])).toThrow('no handler for queue "convert"');
  });

  it('refuses a handler for a queue this process does not consume', () => {
    expect(() => indexHandlers([handlerFor('convert'), handlerFor('fetch')], ['convert'])).toThrow(
      'handler for queue "fetch" that this process does not consume',
    );
  });
});
