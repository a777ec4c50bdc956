import { createHash, randomBytes } from 'node:crypto';
import { splitBody, type BodySegment } from './body-segments';

/** A body that yields `bytes` in pieces of `piece`, then optionally breaks off. */
async function* bodyOf(bytes: Buffer, piece: number, breakOffAfter?: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < bytes.length; i += piece) {
    if (breakOffAfter !== undefined && i >= breakOffAfter)
      throw Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
    yield bytes.subarray(i, Math.min(bytes.length, i + piece));
  }
}

/** A store that keeps what it got (copied) and can be slowed down or made to fail. */
function sink(opts: { failAt?: number; delay?: () => Promise<void> } = {}) {
  const stored: { start: number; bytes: Buffer }[] = [];
  let calls = 0;
  const store = async (s: BodySegment) => {
    const n = calls++;
    await opts.delay?.();
    if (n === opts.failAt) throw new Error('storage down');
    const bytes = Buffer.concat(s.parts);
    expect(bytes.length).toBe(s.length);
    stored.push({ start: s.start, bytes });
  };
  return { stored, store };
}

describe('splitBody', () => {
  const data = randomBytes(100_000);

  it('cuts a body into segments of at most segmentSize, in order, covering every byte', async () => {
    const { stored, store } = sink();
    const result = await splitBody(
      bodyOf(data, 7_001),
      { segmentSize: 16_384, maxBytes: data.length, keepPartial: true },
      store,
    );
    expect(result).toEqual({ bytes: data.length });
    expect(stored.map((s) => s.bytes.length)).toEqual([16_384, 16_384, 16_384, 16_384, 16_384, 16_384, 1_696]);
    expect(stored.map((s) => s.start)).toEqual([0, 16_384, 32_768, 49_152, 65_536, 81_920, 98_304]);
    expect(Buffer.concat(stored.map((s) => s.bytes)).equals(data)).toBe(true);
  });

  it('splits a piece larger than a segment, and hashes every byte', async () => {
    const { stored, store } = sink();
    const hash = createHash('sha1');
    await splitBody(
      bodyOf(data, data.length),
      { segmentSize: 30_000, maxBytes: data.length, hash, keepPartial: true },
      store,
    );
    expect(stored.map((s) => s.bytes.length)).toEqual([30_000, 30_000, 30_000, 10_000]);
    expect(hash.digest('hex')).toBe(createHash('sha1').update(data).digest('hex'));
  });

  it('stores one segment at a time and reads ahead at most one more (two segments in memory)', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    let read = 0;
    let storedBytes = 0;
    let maxAhead = 0;
    async function* counted(): AsyncGenerator<Buffer> {
      for await (const c of bodyOf(data, 1_000)) {
        read += c.length;
        maxAhead = Math.max(maxAhead, read - storedBytes);
        yield c;
      }
    }
    await splitBody(counted(), { segmentSize: 10_000, maxBytes: data.length, keepPartial: true }, async (s) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((r) => setTimeout(r, 5));
      storedBytes += s.length;
      inFlight--;
    });
    expect(maxInFlight).toBe(1);
    expect(storedBytes).toBe(data.length);
    // Unstored bytes never exceed the segment being stored + the one filling (+ one piece read).
    expect(maxAhead).toBeLessThanOrEqual(2 * 10_000 + 1_000);
  });

  it('a body that breaks off hands over what arrived (keepPartial) and reports the break-off', async () => {
    const { stored, store } = sink();
    const result = await splitBody(
      bodyOf(data, 1_000, 25_000),
      { segmentSize: 10_000, maxBytes: data.length, keepPartial: true },
      store,
    );
    expect(result.bytes).toBe(25_000);
    expect((result.interrupted as Error).message).toBe('aborted');
    expect(stored.map((s) => s.bytes.length)).toEqual([10_000, 10_000, 5_000]);
    expect(Buffer.concat(stored.map((s) => s.bytes)).equals(data.subarray(0, 25_000))).toBe(true);
  });

  it('without keepPartial the broken-off remainder is dropped', async () => {
    const { stored, store } = sink();
    const result = await splitBody(
      bodyOf(data, 1_000, 25_000),
      { segmentSize: 10_000, maxBytes: data.length, keepPartial: false },
      store,
    );
    expect(result.interrupted).toBeDefined();
    expect(stored.map((s) => s.bytes.length)).toEqual([10_000, 10_000]);
  });

  it('more than maxBytes is payload_too_large; what fit before is stored, the excess is not', async () => {
    const { stored, store } = sink();
    await expect(
      splitBody(bodyOf(data, 1_000), { segmentSize: 10_000, maxBytes: 34_500, keepPartial: true }, store),
    ).rejects.toMatchObject({ code: 'payload_too_large' });
    expect(stored.map((s) => s.bytes.length)).toEqual([10_000, 10_000, 10_000]);
  });

  it('a segment that reaches maxBytes waits for the body to end: more bytes refuse it unstored', async () => {
    const over = sink();
    await expect(
      splitBody(bodyOf(data, 1_000), { segmentSize: 10_000, maxBytes: 30_000, keepPartial: true }, over.store),
    ).rejects.toMatchObject({ code: 'payload_too_large' });
    // The third segment would have filled the room (completing an upload): it never reached the store.
    expect(over.stored.map((s) => s.start)).toEqual([0, 10_000]);
    const exact = sink();
    const fits = data.subarray(0, 30_000);
    expect(
      await splitBody(bodyOf(fits, 1_000), { segmentSize: 10_000, maxBytes: 30_000, keepPartial: true }, exact.store),
    ).toEqual({ bytes: 30_000 });
    expect(exact.stored.map((s) => s.start)).toEqual([0, 10_000, 20_000]);
    expect(Buffer.concat(exact.stored.map((s) => s.bytes)).equals(fits)).toBe(true);
  });

  it('a failed store stops the reading, stores nothing after it, and is thrown', async () => {
    const { stored, store } = sink({ failAt: 1 });
    let read = 0;
    async function* counted(): AsyncGenerator<Buffer> {
      for await (const c of bodyOf(data, 1_000)) {
        read += c.length;
        yield c;
      }
    }
    await expect(
      splitBody(counted(), { segmentSize: 10_000, maxBytes: data.length, keepPartial: true }, store),
    ).rejects.toThrow('storage down');
    expect(stored.map((s) => s.start)).toEqual([0]);
    expect(read).toBeLessThan(data.length);
  });

  it('an empty body stores nothing', async () => {
    const { stored, store } = sink();
    expect(
      await splitBody(bodyOf(Buffer.alloc(0), 1), { segmentSize: 10, maxBytes: 0, keepPartial: true }, store),
    ).toEqual({ bytes: 0 });
    expect(stored).toEqual([]);
  });

  it('refuses a segment size that is not a positive integer', async () => {
    await expect(
      splitBody(bodyOf(data, 10), { segmentSize: 0, maxBytes: 10, keepPartial: true }, async () => undefined),
    ).rejects.toThrow(RangeError);
  });
});
