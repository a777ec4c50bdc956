// ChannelFanout against a real Redis: one SUBSCRIBE per channel however many listeners, every
// listener hears what is published once its listen() has resolved, and the subscription ends
// with the last listener. The SUBSCRIBE can be held back here, to see what a second listener
// that arrives while it is in flight is told.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { waitFor } from '../../../test/stack';
import { ChannelFanout } from './job-events';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

describe('ChannelFanout (real Redis)', () => {
  let subscriber: Redis;
  let publisher: Redis;
  let fanout: ChannelFanout;
  /** SUBSCRIBE commands wait for this before they are sent. */
  let openGate: () => void;
  let gate: Promise<void>;
  let failNext: Error | null = null;
  const channel = () => `kiln-test-fanout-${randomBytes(6).toString('hex')}`;
  const subscribers = async (ch: string) => ((await publisher.pubsub('NUMSUB', ch)) as [string, number])[1];
  /** Whether a promise has settled once everything already queued has run (no I/O happens in between). */
  const settledNow = (p: Promise<unknown>) =>
    Promise.race([p.then(() => 'settled'), new Promise((r) => setImmediate(() => r('pending')))]);

  beforeEach(() => {
    subscriber = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    publisher = new Redis(REDIS_URL);
    gate = Promise.resolve();
    const subscribe = subscriber.subscribe.bind(subscriber) as (ch: string) => Promise<unknown>;
    (subscriber as unknown as { subscribe: (ch: string) => Promise<unknown> }).subscribe = async (ch: string) => {
      await gate;
      if (failNext) {
        const err = failNext;
        failNext = null;
        throw err;
      }
      return subscribe(ch);
    };
    fanout = new ChannelFanout(subscriber);
  });

  afterEach(() => {
    fanout.close();
    publisher.disconnect();
  });

  it('a listener that joins while the SUBSCRIBE is in flight is answered only once Redis has confirmed it', async () => {
    const ch = channel();
    gate = new Promise((r) => {
      openGate = r;
    });
    const heard: Record<string, string[]> = { a: [], b: [] };
    const first = fanout.listen(ch, (m) => heard.a.push(m));
    const second = fanout.listen(ch, (m) => heard.b.push(m));
    expect(await settledNow(second)).toBe('pending');
    expect(await subscribers(ch)).toBe(0);
    openGate();
    const [stopA, stopB] = await Promise.all([first, second]);
    // Both resolved: one subscription, and a message published now reaches both.
    expect(await subscribers(ch)).toBe(1);
    expect(await publisher.publish(ch, 'ended')).toBe(1);
    await waitFor('both listeners to hear it', async () => heard.a.length === 1 && heard.b.length === 1, 5_000, 10);
    expect(heard).toEqual({ a: ['ended'], b: ['ended'] });
    await stopA();
    expect(await subscribers(ch)).toBe(1);
    await stopB();
    expect(await subscribers(ch)).toBe(0);
  });

  it('a SUBSCRIBE that fails fails every listener waiting on it and leaves nothing behind; the next one subscribes', async () => {
    const ch = channel();
    failNext = new Error('Connection is closed.');
    const heard: string[] = [];
    await expect(fanout.listen(ch, (m) => heard.push(m))).rejects.toThrow('Connection is closed.');
    expect(await subscribers(ch)).toBe(0);
    const stop = await fanout.listen(ch, (m) => heard.push(m));
    expect(await subscribers(ch)).toBe(1);
    await publisher.publish(ch, 'after');
    await waitFor('the message', async () => heard.length === 1, 5_000, 10);
    expect(heard).toEqual(['after']); // the failed listener was removed: it hears nothing
    await stop();
    expect(await subscribers(ch)).toBe(0);
  });
});
