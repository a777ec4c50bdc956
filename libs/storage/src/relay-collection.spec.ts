import { relayCollectionActive, relayed, setRelayCollection } from './relay-collection';

describe('relay collection (a minor GC per KILN_RELAY_GC_BYTES relayed)', () => {
  const calls: unknown[] = [];
  const holder = globalThis as { gc?: unknown };
  const saved = holder.gc;
  beforeEach(() => {
    calls.length = 0;
    holder.gc = (options?: unknown) => void calls.push(options);
  });
  afterAll(() => {
    holder.gc = saved;
    setRelayCollection(4 * 1024 * 1024);
  });

  it('collects the young generation once every `every` bytes, counting across pieces', () => {
    setRelayCollection(1000);
    expect(relayCollectionActive()).toBe(true);
    for (let i = 0; i < 9; i++) relayed(100);
    expect(calls).toEqual([]);
    relayed(100); // 1000 bytes in all
    expect(calls).toEqual([{ type: 'minor' }]);
    relayed(2500); // one piece past the interval: one collection, the count starts again
    relayed(999);
    expect(calls).toHaveLength(2);
  });

  it('is off with an interval of 0, and without an exposed gc', () => {
    setRelayCollection(0);
    expect(relayCollectionActive()).toBe(false);
    relayed(10 ** 9);
    expect(calls).toEqual([]);
    setRelayCollection(1000);
    holder.gc = undefined;
    expect(relayCollectionActive()).toBe(false);
    expect(() => relayed(5000)).not.toThrow();
  });
});
