// The ObjectStore contract, objects made of parts: compose, multipart uploads driven by the caller,
// and abortStaleUploads (which runs last: it counts the incomplete uploads every other part left).
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

/** compose concatenates whole objects, refusing small middle sources and missing ones. */
export function composeContract({ store, k }: ContractSuite): void {
  describe('compose', () => {
    let first: Buffer;
    let second: Buffer;
    let tail: Buffer;

    beforeAll(async () => {
      first = randomBytes(5 * MiB);
      second = randomBytes(5 * MiB + 17);
      tail = randomBytes(1000);
      await store.put(k('parts/1'), streamOf(first), { size: first.length });
      await store.put(k('parts/2'), streamOf(second), { size: second.length });
      await store.put(k('parts/3'), streamOf(tail), { size: tail.length });
    }, TIMEOUT);

    it(
      'concatenates whole objects in order into the target',
      async () => {
        const info = await store.compose(k('composed'), [k('parts/1'), k('parts/2'), k('parts/3')]);
        const expected = Buffer.concat([first, second, tail]);
        expect(info).toMatchObject({ key: k('composed'), size: expected.length });
        expect(sha256(await readAll(await store.get(k('composed'))))).toBe(sha256(expected));
        expect((await store.stat(k('parts/2')))?.size).toBe(second.length); // sources stay
      },
      TIMEOUT,
    );

    it('of a single source copies it (any size)', async () => {
      const info = await store.compose(k('copied'), [k('parts/3')]);
      expect(info.size).toBe(tail.length);
      expectBytes(await readAll(await store.get(k('copied'))), tail);
    });

    it('refuses a source under 5 MiB that is not the last, and writes nothing', async () => {
      await expectKilnError(store.compose(k('refused'), [k('parts/1'), k('parts/3'), k('parts/2')]), 'unprocessable');
      expect(await store.stat(k('refused'))).toBeNull();
    });

    it('fails with not_found when a source is missing', async () => {
      await expectKilnError(store.compose(k('orphan'), [k('parts/1'), k('parts/none')]), 'not_found');
      expect(await store.stat(k('orphan'))).toBeNull();
    });
  });
}

/** Multipart uploads driven by the caller: parts in any order, listed, replaced, checked, aborted. */
export function multipartContract({ store, k }: ContractSuite): void {
  describe('multipart uploads driven by the caller', () => {
    const sendPart = (key: string, uploadId: string, partNumber: number, data: Buffer) =>
      store.putPart(key, uploadId, partNumber, streamOf(data), data.length);

    it(
      'parts sent out of order with gaps in their numbers complete into their concatenation in part order',
      async () => {
        const key = k('mp/vidéo 1 (final)+&.bin');
        const uploadId = await store.createMultipart(key, { contentType: 'video/mp4' });
        expect(typeof uploadId).toBe('string');
        const parts = new Map([
          [2, randomBytes(5 * MiB + 7)],
          [5, randomBytes(5 * MiB)],
          [9, randomBytes(1000)],
        ]);
        // Last part first, the others at the same time.
        const sent = [await sendPart(key, uploadId, 9, parts.get(9)!)];
        sent.push(...(await Promise.all([5, 2].map((n) => sendPart(key, uploadId, n, parts.get(n)!)))));
        // The ETag of a part is the hex MD5 of its bytes, unquoted.
        expect(sent).toEqual([9, 5, 2].map((n) => ({ etag: md5(parts.get(n)!), size: parts.get(n)!.length })));
        expect(await store.stat(key)).toBeNull(); // nothing visible before completion

        const expected = Buffer.concat([parts.get(2)!, parts.get(5)!, parts.get(9)!]);
        const info = await store.completeMultipart(
          key,
          uploadId,
          [2, 5, 9].map((partNumber) => ({ partNumber, etag: md5(parts.get(partNumber)!) })),
        );
        expect(info).toMatchObject({ key, size: expected.length });
        expect(info.etag).toMatch(/^[0-9a-f]{32}-3$/); // S3's multipart form: md5 of the part md5s, part count
        expectBytes(await readAll(await store.get(key)), expected);
        // A range across the boundary between parts 2 and 5.
        const boundary = parts.get(2)!.length;
        const across = await readAll(await store.getRange(key, boundary - 100, boundary + 99));
        expectBytes(across, expected.subarray(boundary - 100, boundary + 100));
        // The upload is finished: no more parts; aborting it is not an error and keeps the object.
        await expectKilnError(sendPart(key, uploadId, 10, Buffer.from('late')), 'not_found');
        await expect(store.abortMultipart(key, uploadId)).resolves.toBeUndefined();
        expect((await store.stat(key))?.size).toBe(expected.length);
      },
      TIMEOUT,
    );

    it(
      'listParts shows the uploaded parts in part order with ETags and sizes; not_found once finished',
      async () => {
        const key = k('mp/listed');
        const uploadId = await store.createMultipart(key);
        expect(await store.listParts(key, uploadId)).toEqual([]);
        const a = randomBytes(5 * MiB);
        const b = Buffer.from('tail bytes');
        await sendPart(key, uploadId, 7, b);
        await sendPart(key, uploadId, 3, a);
        expect(await store.listParts(key, uploadId)).toEqual([
          { partNumber: 3, etag: md5(a), size: a.length },
          { partNumber: 7, etag: md5(b), size: b.length },
        ]);
        await store.completeMultipart(key, uploadId, [
          { partNumber: 3, etag: md5(a) },
          { partNumber: 7, etag: md5(b) },
        ]);
        await expectKilnError(store.listParts(key, uploadId), 'not_found');
        await expectKilnError(store.listParts(key, 'no-such-upload-id'), 'not_found');
      },
      TIMEOUT,
    );

    it('sending a part number again replaces that part', async () => {
      const key = k('mp/resent');
      const uploadId = await store.createMultipart(key);
      const first = Buffer.from('the first version of part one');
      const second = Buffer.from('second');
      expect(await sendPart(key, uploadId, 1, first)).toEqual({ etag: md5(first), size: first.length });
      expect(await sendPart(key, uploadId, 1, second)).toEqual({ etag: md5(second), size: second.length });
      // The replaced part's ETag no longer matches; the upload stays open.
      await expectKilnError(store.completeMultipart(key, uploadId, [{ partNumber: 1, etag: md5(first) }]), 'conflict');
      const info = await store.completeMultipart(key, uploadId, [{ partNumber: 1, etag: `"${md5(second)}"` }]);
      expect(info.size).toBe(second.length);
      expectBytes(await readAll(await store.get(key)), second);
    });

    it(
      'refuses a part under 5 MiB that is not the last (unprocessable); the upload stays open',
      async () => {
        const key = k('mp/too-small');
        const uploadId = await store.createMultipart(key);
        const small = randomBytes(1000);
        const tail = randomBytes(10);
        await sendPart(key, uploadId, 1, small);
        await sendPart(key, uploadId, 2, tail);
        const list = [
          { partNumber: 1, etag: md5(small) },
          { partNumber: 2, etag: md5(tail) },
        ];
        await expectKilnError(store.completeMultipart(key, uploadId, list), 'unprocessable');
        expect(await store.stat(k('mp/too-small'))).toBeNull();
        // Part 1 re-sent at 5 MiB: the same upload now completes.
        const big = randomBytes(5 * MiB);
        await sendPart(key, uploadId, 1, big);
        const info = await store.completeMultipart(key, uploadId, [{ partNumber: 1, etag: md5(big) }, list[1]]);
        expect(info.size).toBe(big.length + tail.length);
        expectBytes(await readAll(await store.get(key)), Buffer.concat([big, tail]));
      },
      TIMEOUT,
    );

    it(
      'refuses a list that is not the uploaded parts (conflict): a wrong ETag, a part never sent, a part left out',
      async () => {
        const key = k('mp/wrong-list');
        const uploadId = await store.createMultipart(key);
        const one = randomBytes(5 * MiB);
        const two = randomBytes(100);
        await sendPart(key, uploadId, 1, one);
        await sendPart(key, uploadId, 3, two);
        const right = [
          { partNumber: 1, etag: md5(one) },
          { partNumber: 3, etag: md5(two) },
        ];
        const wrongEtag = [right[0], { partNumber: 3, etag: md5(one) }];
        const neverSent = [right[0], { partNumber: 2, etag: md5(two) }, right[1]];
        const leftOut = [right[0]];
        for (const list of [wrongEtag, neverSent, leftOut]) {
          await expectKilnError(store.completeMultipart(key, uploadId, list), 'conflict');
        }
        expect(await store.stat(key)).toBeNull();
        expect((await store.completeMultipart(key, uploadId, right)).size).toBe(one.length + two.length);
      },
      TIMEOUT,
    );

    it('abort drops the upload: its parts are gone, putPart and completeMultipart answer not_found', async () => {
      const key = k('mp/aborted');
      const uploadId = await store.createMultipart(key);
      const data = Buffer.from('a part that will be dropped');
      await sendPart(key, uploadId, 1, data);
      await store.abortMultipart(key, uploadId);
      await expectKilnError(sendPart(key, uploadId, 2, data), 'not_found');
      await expectKilnError(store.completeMultipart(key, uploadId, [{ partNumber: 1, etag: md5(data) }]), 'not_found');
      expect(await store.stat(key)).toBeNull();
      await expect(store.abortMultipart(key, uploadId)).resolves.toBeUndefined(); // again: not an error
    });

    it('an unknown upload id, or one of another key, is not_found (and aborting it is not an error)', async () => {
      const key = k('mp/unknown');
      const data = Buffer.from('bytes');
      const unknown = `2~${randomBytes(12).toString('hex')}`;
      await expectKilnError(sendPart(key, unknown, 1, data), 'not_found');
      await expectKilnError(store.completeMultipart(key, unknown, [{ partNumber: 1, etag: md5(data) }]), 'not_found');
      await expect(store.abortMultipart(key, unknown)).resolves.toBeUndefined();
      const other = await store.createMultipart(k('mp/other'));
      await expectKilnError(sendPart(key, other, 1, data), 'not_found');
      await store.abortMultipart(k('mp/other'), other);
      expect(await store.stat(key)).toBeNull();
    });

    it(
      'putPart checks the body like put: a wrong length, more than maxBytes or a failing body stores nothing',
      async () => {
        const key = k('mp/checked');
        const uploadId = await store.createMultipart(key);
        const good = randomBytes(2000);
        await sendPart(key, uploadId, 1, good);
        await expectKilnError(store.putPart(key, uploadId, 1, streamOf(randomBytes(100)), 200), 'invalid_input');
        await expectKilnError(store.putPart(key, uploadId, 1, streamOf(randomBytes(300)), 200), 'invalid_input');
        // The announced size arrives complete in one chunk and the extra byte only after it.
        const exactThenMore = chunkStream([randomBytes(200), Buffer.from('x')]);
        await expectKilnError(store.putPart(key, uploadId, 1, exactThenMore, 200), 'invalid_input');
        const over = streamOf(randomBytes(3000));
        await expectKilnError(store.putPart(key, uploadId, 1, over, 3000, { maxBytes: 2500 }), 'payload_too_large');
        expect(over.destroyed).toBe(false);
        expect(over.readableEnded).toBe(false);
        const failing = chunkStream([randomBytes(1000)], new Error('client went away'));
        await expect(store.putPart(key, uploadId, 1, failing, 2000)).rejects.toThrow('client went away');
        // Part 1 is still the first one sent.
        await store.completeMultipart(key, uploadId, [{ partNumber: 1, etag: md5(good) }]);
        expectBytes(await readAll(await store.get(key)), good);
      },
      TIMEOUT,
    );

    it('refuses part numbers outside 1..10000 and empty or unordered lists (invalid_input)', async () => {
      const key = k('mp/arguments');
      const uploadId = await store.createMultipart(key);
      const data = Buffer.from('x');
      for (const partNumber of [0, 10_001, 1.5, -1]) {
        await expectKilnError(store.putPart(key, uploadId, partNumber, streamOf(data), 1), 'invalid_input');
      }
      await expectKilnError(store.putPart(key, '', 1, streamOf(data), 1), 'invalid_input');
      const { etag } = await sendPart(key, uploadId, 1, data);
      const two = await sendPart(key, uploadId, 2, data);
      await expectKilnError(store.completeMultipart(key, uploadId, []), 'invalid_input');
      const unordered = [
        { partNumber: 2, etag: two.etag },
        { partNumber: 1, etag },
      ];
      await expectKilnError(store.completeMultipart(key, uploadId, unordered), 'invalid_input');
      const twice = [
        { partNumber: 1, etag },
        { partNumber: 1, etag },
      ];
      await expectKilnError(store.completeMultipart(key, uploadId, twice), 'invalid_input');
      await store.abortMultipart(key, uploadId);
      expect(await store.stat(key)).toBeNull();
    });
  });
}

/** abortStaleUploads: only uploads started before the cutoff, and not those keep answers true for. */
export function staleUploadsContract({ store, k, harness }: ContractSuite): void {
  it('abortStaleUploads aborts only uploads started before the cutoff (and failed puts left none)', async () => {
    await harness.createIncompleteUpload(k('stale/upload'));
    expect(await store.abortStaleUploads(new Date(Date.now() - 3_600_000))).toBe(0);
    expect(await store.abortStaleUploads(new Date(Date.now() + 60_000))).toBe(1);
    expect(await store.abortStaleUploads(new Date(Date.now() + 60_000))).toBe(0);
  });

  it('abortStaleUploads leaves alone the stale uploads that keep answers true for', async () => {
    const kept = await store.createMultipart(k('stale/kept'));
    const dropped = await store.createMultipart(k('stale/dropped'));
    const part = Buffer.from('a part of a long-lived upload');
    await store.putPart(k('stale/kept'), kept, 1, streamOf(part), part.length);
    const asked: string[] = [];
    const keep = async (upload: { key: string; uploadId: string }): Promise<boolean> => {
      asked.push(`${upload.key} ${upload.uploadId}`);
      return upload.uploadId === kept;
    };
    // keep is asked about stale uploads only.
    expect(await store.abortStaleUploads(new Date(Date.now() - 3_600_000), keep)).toBe(0);
    expect(asked).toEqual([]);
    expect(await store.abortStaleUploads(new Date(Date.now() + 60_000), keep)).toBe(1);
    // Every other test left no upload behind: these two are all there is.
    expect(asked.sort()).toEqual([`${k('stale/dropped')} ${dropped}`, `${k('stale/kept')} ${kept}`].sort());
    await expectKilnError(store.putPart(k('stale/dropped'), dropped, 1, streamOf(part), part.length), 'not_found');
    // The kept upload still has its part and completes.
    await store.completeMultipart(k('stale/kept'), kept, [{ partNumber: 1, etag: md5(part) }]);
    expectBytes(await readAll(await store.get(k('stale/kept'))), part);
    expect(await store.abortStaleUploads(new Date(Date.now() + 60_000), () => false)).toBe(0);
  });
}
