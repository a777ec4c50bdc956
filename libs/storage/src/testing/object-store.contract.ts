// The ObjectStore contract: one entry, objectStoreContract, run by the in-memory fake's spec and by the
// S3 adapter's against radosgw. Its parts live in object-store-contract/ (put, reads, multipart) and
// run in this order; the helpers they share are exported here for the runners too.
import { randomBytes } from 'node:crypto';
import {
  type ContractSuite,
  type ObjectStoreHarness,
  MiB,
  TIMEOUT,
  expectBytes,
  lateStore,
  readAll,
  sha256,
  streamOf,
} from './object-store-contract/helpers';
import { putContract } from './object-store-contract/put';
import { getRangeContract, getStatRemoveContract, listContract, presignContract } from './object-store-contract/reads';
import { composeContract, multipartContract, staleUploadsContract } from './object-store-contract/multipart';

/**
 * The behaviour every ObjectStore must have, as a Jest suite. Run it against the in-memory fake and
 * against the S3 adapter on a real server, so the fake cannot drift from what production does.
 * `make` is called once for the suite; the store must start with no incomplete multipart uploads
 * (abortStaleUploads is checked for an exact count, which also proves failed puts leave none).
 * Multipart paths are reached when the store's part size is 5 MiB (objects here reach 12 MiB).
 */
export function objectStoreContract(name: string, make: () => Promise<ObjectStoreHarness>): void {
  describe(`ObjectStore contract: ${name}`, () => {
    let harness: ObjectStoreHarness;
    const prefix = `contract-${randomBytes(4).toString('hex')}/`;
    const k = (key: string): string => prefix + key;
    const store = lateStore(() => harness.store);
    const suite: ContractSuite = {
      store,
      k,
      harness: { createIncompleteUpload: (key) => harness.createIncompleteUpload(key) },
    };

    beforeAll(async () => {
      harness = await make();
    }, TIMEOUT);

    afterAll(async () => {
      await harness?.cleanup();
    }, TIMEOUT);

    it('ensureBucket is idempotent and ping answers', async () => {
      await store.ensureBucket();
      await store.ensureBucket();
      await expect(store.ping()).resolves.toBeUndefined();
    });

    putContract(suite);
    getStatRemoveContract(suite);
    listContract(suite);
    composeContract(suite);
    multipartContract(suite);
    getRangeContract(suite);

    it(
      'handles keys with spaces, non-ASCII and URL-special characters everywhere',
      async () => {
        // Compose sources avoid '%': radosgw 16 decodes x-amz-copy-source twice in UploadPartCopy (a
        // source named "a%20b" is looked up as "a b"). Kiln composes chunk keys, which never hold one.
        const key = k('inputs/job/input/vidéo #1 (final)+&a=b?.mp4');
        const percent = k('inputs/job/input/100% 50%25.txt');
        const big = randomBytes(5 * MiB);
        const small = Buffer.from('tail');
        await store.put(key, streamOf(big), { size: big.length });
        await store.put(`${key}.tail`, streamOf(small));
        await store.put(percent, streamOf(small), { size: small.length });
        expect((await store.stat(key))?.size).toBe(big.length);
        expectBytes(await readAll(await store.get(percent)), small);
        const listed: string[] = [];
        for await (const info of store.list(k('inputs/job/'))) listed.push(info.key);
        expect(listed).toEqual([percent, key, `${key}.tail`]);
        const target = k('inputs/job/input/ünïcødé 100% target.mp4');
        await store.compose(target, [key, `${key}.tail`]);
        expect(sha256(await readAll(await store.get(target)))).toBe(sha256(Buffer.concat([big, small])));
        await store.compose(`${target}.copy`, [percent]);
        expectBytes(await readAll(await store.get(`${target}.copy`)), small);
        await store.remove(key);
        expect(await store.stat(key)).toBeNull();
        expect(await store.removePrefix(k('inputs/job/'))).toBe(4);
      },
      TIMEOUT,
    );

    presignContract(suite);
    staleUploadsContract(suite);
  });
}

export {
  type ObjectStoreHarness,
  chunkStream,
  md5,
  readAll,
  sha256,
  streamOf,
} from './object-store-contract/helpers';
