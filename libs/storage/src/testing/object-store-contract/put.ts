// The ObjectStore contract, put: known and unknown sizes, one part or several, empty bodies,
// replacing, bodies of the wrong length, maxBytes, and failing bodies that leave nothing behind.
import { randomBytes } from 'node:crypto';
import {
  type ContractSuite,
  MiB,
  TIMEOUT,
  chunkStream,
  expectBytes,
  expectKilnError,
  md5,
  readAll,
  sha256,
  streamOf,
} from './helpers';

/** put stores exactly the body it is given, or nothing. */
export function putContract({ store, k }: ContractSuite): void {
  describe('put', () => {
    it(
      'with a known size stores the bytes and returns their size and sha256',
      async () => {
        const data = randomBytes(MiB + 123);
        const result = await store.put(k('known'), streamOf(data), { size: data.length, contentType: 'video/mp4' });
        expect(result).toEqual({ key: k('known'), size: data.length, sha256: sha256(data), etag: md5(data) });
        expect((await store.stat(k('known')))?.size).toBe(data.length);
        expectBytes(await readAll(await store.get(k('known'))), data);
      },
      TIMEOUT,
    );

    it(
      "with checksum 'none' skips the SHA-256 and still returns the server's ETag (MD5 of a single PUT)",
      async () => {
        const data = randomBytes(300_001);
        const result = await store.put(k('no-hash'), streamOf(data), { size: data.length, checksum: 'none' });
        expect(result).toEqual({ key: k('no-hash'), size: data.length, etag: md5(data) });
        expectBytes(await readAll(await store.get(k('no-hash'))), data);
      },
      TIMEOUT,
    );

    it(
      'with keepHead returns the first bytes as they passed, in small chunks or one, known size or not',
      async () => {
        const data = randomBytes(200_000);
        const known = await store.put(k('head-known'), streamOf(data, 1000), { size: data.length, keepHead: 65_536 });
        expectBytes(known.head!, data.subarray(0, 65_536));
        const unknown = await store.put(k('head-unknown'), streamOf(data), { keepHead: 4096 });
        expectBytes(unknown.head!, data.subarray(0, 4096));
        // A body shorter than the head asked for: all of it.
        const short = await store.put(k('head-short'), streamOf(data.subarray(0, 10)), { size: 10, keepHead: 4096 });
        expectBytes(short.head!, data.subarray(0, 10));
        // Not asked for: none.
        expect((await store.put(k('head-none'), streamOf(data), { size: data.length })).head).toBeUndefined();
        expectBytes(await readAll(await store.get(k('head-known'))), data);
      },
      TIMEOUT,
    );

    it(
      'of unknown size spanning several parts keeps every byte in order',
      async () => {
        const data = randomBytes(12 * MiB + 5);
        const result = await store.put(k('unknown'), streamOf(data, 100_000));
        expect(result).toMatchObject({ key: k('unknown'), size: data.length, sha256: sha256(data) });
        expect(sha256(await readAll(await store.get(k('unknown'))))).toBe(sha256(data));
      },
      TIMEOUT,
    );

    it('of a small body of unknown size', async () => {
      const data = Buffer.from('a small body');
      expect(await store.put(k('small'), streamOf(data))).toMatchObject({
        key: k('small'),
        size: data.length,
        sha256: sha256(data),
      });
      expectBytes(await readAll(await store.get(k('small'))), data);
    });

    it('of empty bodies, with and without a size', async () => {
      const empty = sha256(Buffer.alloc(0));
      expect(await store.put(k('empty-known'), streamOf(Buffer.alloc(0)), { size: 0 })).toMatchObject({
        size: 0,
        sha256: empty,
      });
      expect(await store.put(k('empty-unknown'), streamOf(Buffer.alloc(0)))).toMatchObject({
        size: 0,
        sha256: empty,
      });
      expect((await store.stat(k('empty-known')))?.size).toBe(0);
      expect((await readAll(await store.get(k('empty-unknown')))).length).toBe(0);
    });

    it('replaces an existing object', async () => {
      await store.put(k('replace'), streamOf(Buffer.from('first version')));
      await store.put(k('replace'), streamOf(Buffer.from('second')), { size: 6 });
      expect((await readAll(await store.get(k('replace')))).toString()).toBe('second');
    });

    it('rejects a body shorter than its size and writes nothing', async () => {
      const body = streamOf(randomBytes(100));
      await expectKilnError(store.put(k('short'), body, { size: 200 }), 'invalid_input');
      expect(await store.stat(k('short'))).toBeNull();
    });

    it('rejects a body longer than its size and writes nothing', async () => {
      await expectKilnError(store.put(k('long'), streamOf(randomBytes(300)), { size: 200 }), 'invalid_input');
      // The announced size arrives complete in one chunk and the extra byte only after it.
      const exactThenMore = chunkStream([randomBytes(200), Buffer.from('x')]);
      await expectKilnError(store.put(k('long'), exactThenMore, { size: 200 }), 'invalid_input');
      expect(await store.stat(k('long'))).toBeNull();
    });

    it('that fails leaves an existing object as it was', async () => {
      const original = randomBytes(1000);
      await store.put(k('keep'), streamOf(original), { size: original.length });
      await expectKilnError(store.put(k('keep'), streamOf(randomBytes(10)), { size: 20 }), 'invalid_input');
      await expectKilnError(store.put(k('keep'), streamOf(randomBytes(2000)), { maxBytes: 1500 }), 'payload_too_large');
      expectBytes(await readAll(await store.get(k('keep'))), original);
    });

    it('refuses a known size over maxBytes without consuming or destroying the body', async () => {
      const body = streamOf(randomBytes(2000));
      await expectKilnError(store.put(k('too-big-known'), body, { size: 2000, maxBytes: 1000 }), 'payload_too_large');
      expect(body.destroyed).toBe(false);
      expect(await store.stat(k('too-big-known'))).toBeNull();
    });

    it(
      'stops at maxBytes for an unknown size, writes nothing and leaves the body undestroyed',
      async () => {
        const small = streamOf(randomBytes(3 * MiB));
        await expectKilnError(store.put(k('too-big'), small, { maxBytes: MiB }), 'payload_too_large');
        expect(small.destroyed).toBe(false);
        expect(await store.stat(k('too-big'))).toBeNull();
        // Past several parts (multipart path when parts are 5 MiB).
        const large = streamOf(randomBytes(12 * MiB));
        await expectKilnError(store.put(k('too-big'), large, { maxBytes: 11 * MiB }), 'payload_too_large');
        expect(large.destroyed).toBe(false);
        expect(await store.stat(k('too-big'))).toBeNull();
      },
      TIMEOUT,
    );

    it('accepts a body of exactly maxBytes', async () => {
      const data = randomBytes(4096);
      await expect(store.put(k('at-limit'), streamOf(data), { maxBytes: 4096 })).resolves.toMatchObject({
        size: 4096,
      });
      await expect(store.put(k('at-limit'), streamOf(data), { size: 4096, maxBytes: 4096 })).resolves.toMatchObject({
        size: 4096,
      });
    });

    it(
      'fails with the body’s error when the body fails, and writes nothing',
      async () => {
        const boom = new Error('client went away');
        await expect(store.put(k('broken'), chunkStream([randomBytes(1000)], boom), { size: 5000 })).rejects.toBe(boom);
        const parts = [randomBytes(6 * MiB), randomBytes(6 * MiB)];
        await expect(store.put(k('broken'), chunkStream(parts, boom))).rejects.toBe(boom);
        expect(await store.stat(k('broken'))).toBeNull();
      },
      TIMEOUT,
    );
  });
}
