// The ObjectStore contract, reading: get, stat and remove; list and removePrefix; byte ranges;
// and presigned download URLs.
import { randomBytes } from 'node:crypto';
import { mapLimit } from '../../map-limit';
import { type ContractSuite, MiB, TIMEOUT, expectBytes, expectKilnError, readAll, streamOf } from './helpers';

/** get, stat and remove, of objects that exist and of missing keys. */
export function getStatRemoveContract({ store, k }: ContractSuite): void {
  describe('get, stat, remove', () => {
    it('stat is null, get fails with not_found and remove succeeds for a missing key', async () => {
      expect(await store.stat(k('missing'))).toBeNull();
      await expectKilnError(store.get(k('missing')), 'not_found');
      await expect(store.remove(k('missing'))).resolves.toBeUndefined();
    });

    it('stat describes an object and remove deletes it', async () => {
      await store.put(k('stat-me'), streamOf(Buffer.from('12345')), { size: 5 });
      const info = await store.stat(k('stat-me'));
      expect(info).toMatchObject({ key: k('stat-me'), size: 5 });
      expect(info?.lastModified).toBeInstanceOf(Date);
      await store.remove(k('stat-me'));
      expect(await store.stat(k('stat-me'))).toBeNull();
    });
  });
}

/** list and removePrefix over a small tree of keys. */
export function listContract({ store, k }: ContractSuite): void {
  describe('list and removePrefix', () => {
    let writtenFrom = 0;
    let writtenUntil = 0;
    beforeAll(async () => {
      writtenFrom = Date.now();
      for (const [key, size] of [
        ['tree/a/1', 1],
        ['tree/a/2', 2],
        ['tree/a/b/3', 3],
        ['tree/ab/4', 4],
        ['tree/c/5', 5],
      ] as const) {
        await store.put(k(key), streamOf(Buffer.alloc(size, 7)), { size });
      }
      writtenUntil = Date.now();
    });

    it('list yields every object under a prefix, nested ones too, in key order', async () => {
      const listed: [string, number][] = [];
      for await (const info of store.list(k('tree/a/'))) listed.push([info.key, info.size]);
      expect(listed).toEqual([
        [k('tree/a/1'), 1],
        [k('tree/a/2'), 2],
        [k('tree/a/b/3'), 3],
      ]);
    });

    it('list gives each object the time it was written (LastModified, whole seconds on S3)', async () => {
      const times: number[] = [];
      for await (const info of store.list(k('tree/'))) times.push(info.lastModified?.getTime() ?? Number.NaN);
      expect(times).toHaveLength(5);
      for (const t of times) {
        expect(t).toBeGreaterThanOrEqual(Math.floor(writtenFrom / 1000) * 1000);
        expect(t).toBeLessThanOrEqual(writtenUntil + 1000);
      }
    });

    it(
      'list pages through more objects than one S3 listing answer holds (1,000), streaming',
      async () => {
        const keys = Array.from({ length: 1005 }, (_, n) => k(`many/${String(n).padStart(4, '0')}`));
        await mapLimit(keys, 16, (key) => store.put(key, streamOf(Buffer.from('x')), { size: 1, checksum: 'none' }));
        const listed: string[] = [];
        for await (const info of store.list(k('many/'))) listed.push(info.key);
        expect(listed).toEqual(keys);
        expect(await store.removePrefix(k('many/'))).toBe(1005);
      },
      TIMEOUT * 2,
    );

    it('removePrefix removes exactly the objects under the prefix and counts them', async () => {
      expect(await store.removePrefix(k('tree/a/'))).toBe(3);
      const left: string[] = [];
      for await (const info of store.list(k('tree/'))) left.push(info.key);
      expect(left).toEqual([k('tree/ab/4'), k('tree/c/5')]);
      expect(await store.removePrefix(k('tree/nothing/'))).toBe(0);
    });

    it('removePrefix refuses an empty prefix', async () => {
      await expect(store.removePrefix('')).rejects.toThrow(/prefix/);
      expect(await store.stat(k('tree/c/5'))).not.toBeNull();
    });
  });
}

/** getRange: inclusive byte ranges, cut at the end, refused when reversed or past the end. */
export function getRangeContract({ store, k }: ContractSuite): void {
  describe('getRange', () => {
    let data: Buffer;
    beforeAll(async () => {
      data = randomBytes(3 * MiB + 333);
      await store.put(k('range/object'), streamOf(data), { size: data.length });
    }, TIMEOUT);

    it('returns exactly bytes start..end, inclusive', async () => {
      for (const [start, end] of [
        [0, 0],
        [0, 99],
        [5, 70_000],
        [MiB - 1, 2 * MiB],
        [data.length - 10, data.length - 1],
        [0, data.length - 1],
      ]) {
        expectBytes(await readAll(await store.getRange(k('range/object'), start, end)), data.subarray(start, end + 1));
      }
    });

    it('cuts an end past the object to its last byte, and refuses a start past it', async () => {
      const cut = await readAll(await store.getRange(k('range/object'), data.length - 5, data.length + 1000));
      expectBytes(cut, data.subarray(-5));
      await expectKilnError(store.getRange(k('range/object'), data.length, data.length + 10), 'range_not_satisfiable');
    });

    it('fails with not_found for a missing object and invalid_input for a reversed or negative range', async () => {
      await expectKilnError(store.getRange(k('range/missing'), 0, 10), 'not_found');
      await expectKilnError(store.getRange(k('range/object'), 10, 9), 'invalid_input');
      await expectKilnError(store.getRange(k('range/object'), -1, 9), 'invalid_input');
    });
  });
}

/** presignGet: a URL that serves the object under the requested name and type. */
export function presignContract({ store, k }: ContractSuite): void {
  it('presignGet gives a URL that serves the object under the requested name and type', async () => {
    const data = Buffer.from('downloadable bytes');
    await store.put(k('out/file.bin'), streamOf(data), {
      size: data.length,
      contentType: 'application/octet-stream',
    });
    const filename = 'résumé "final".mp4';
    const url = new URL(await store.presignGet(k('out/file.bin'), 300, { filename, contentType: 'video/mp4' }));
    if (url.protocol === 'memory:') {
      expect(decodeURIComponent(url.pathname)).toContain(k('out/file.bin'));
      expect(url.searchParams.get('filename')).toBe(filename);
      expect(url.searchParams.get('content-type')).toBe('video/mp4');
      return;
    }
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('video/mp4');
    expect(res.headers.get('content-disposition')).toContain(`filename*=UTF-8''${encodeURIComponent(filename)}`);
    expectBytes(Buffer.from(await res.arrayBuffer()), data);
  });
}
