// Property-based tests of the headers a request carries before it reaches storage: Content-Range,
// chunk digests, tus lengths, offsets, checksums and metadata. Every value either parses into values
// the database and the object store can hold, or is refused with a 4xx KilnError; nothing else is
// ever thrown (which would be a 500).
import fc from 'fast-check';
import { isKeyFilename } from '@kiln/contracts';
import { parseContentRange, parseChunkDigest } from '@kiln/uploads';
import { creationSpec } from '../tus/tus.service';
import { parseCreationLength, parseUploadChecksum, parseUploadMetadata, parseUploadOffset } from '../tus/tus-protocol';
import { RUNS, anyString, expectClientError, settle } from './testing/hostile-values';

describe('headers: every value parses or is a 4xx', () => {
  const header = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 60 }),
    fc.string({ maxLength: 40 }),
    fc.constant(undefined),
  );
  const numberText = fc.oneof(
    fc.nat({ max: 100 }).map(String),
    fc.nat().map(String),
    fc.bigInt({ min: 0n, max: 10n ** 20n }).map(String),
    fc.constantFrom('-1', '1e3', '0x10', ' 7', '9007199254740991', '9007199254740992', '9999999999999999', '', '*'),
  );
  const often = <T>(usual: T, ...rare: T[]) =>
    fc.oneof({ arbitrary: fc.constant(usual), weight: 4 }, { arbitrary: fc.constantFrom(usual, ...rare), weight: 1 });
  const rangeLike = fc
    .tuple(
      often('bytes ', 'bytes  ', 'Bytes ', '', 'bytes=', ' bytes '),
      numberText,
      often('-', '–', ''),
      numberText,
      often('/', ''),
      numberText,
    )
    .map((p) => p.join(''));

  it('Content-Range: a valid range (start ≤ end < total, safe numbers) or a 4xx', () => {
    fc.assert(
      fc.property(fc.oneof(header, rangeLike), (h) => {
        const r = settle(() => parseContentRange(h));
        if ('refused' in r) return expectClientError(r);
        const { start, end, total, length } = r.ok;
        for (const n of [start, end, total, length]) expect(Number.isSafeInteger(n)).toBe(true);
        expect(0 <= start && start <= end && end < total && length === end - start + 1).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('Content-Range: every well-formed range is read back exactly', () => {
    fc.assert(
      fc.property(fc.nat({ max: 2 ** 40 }), fc.nat({ max: 2 ** 40 }), fc.nat({ max: 2 ** 40 }), (a, b, extra) => {
        const [start, end] = a <= b ? [a, b] : [b, a];
        expect(parseContentRange(`bytes ${start}-${end}/${end + 1 + extra}`)).toEqual({
          start,
          end,
          total: end + 1 + extra,
          length: end - start + 1,
        });
      }),
    );
  });

  it('chunk digests, tus lengths, offsets, checksums and metadata', () => {
    fc.assert(
      fc.property(header, header, header, (a, b, c) => {
        for (const fn of [
          () => parseChunkDigest(a, b) as unknown,
          () => parseChunkDigest(a, undefined),
          () => parseCreationLength(a, b),
          () => parseUploadOffset(a),
          () => parseUploadChecksum(a),
        ]) {
          const r = settle(fn);
          if ('refused' in r) expectClientError(r);
        }
        const length = settle(() => parseCreationLength(c, undefined));
        if ('ok' in length && !length.ok.deferred)
          expect(Number.isSafeInteger(length.ok.length) && length.ok.length >= 1).toBe(true);
      }),
      RUNS,
    );
  });

  it('tus Upload-Metadata: any header, or any decoded values, give a clean file name or a 4xx', () => {
    const metaValues = fc.dictionary(
      fc.constantFrom('filename', 'name', 'filetype', 'type', 'job_id', 'input_id', 'target', 'checksum_sha256', 'x'),
      anyString,
      { maxKeys: 4 },
    );
    const encoded = metaValues.map((m) =>
      Object.entries(m)
        .map(([k, v]) => `${k} ${Buffer.from(v, 'utf8').toString('base64')}`)
        .join(','),
    );
    fc.assert(
      fc.property(fc.oneof(header, encoded), (h) => {
        const parsed = settle(() => parseUploadMetadata(h));
        if ('refused' in parsed) return expectClientError(parsed);
        const spec = settle(() => creationSpec(parsed.ok));
        if ('refused' in spec) return expectClientError(spec);
        expect(isKeyFilename(spec.ok.filename)).toBe(true);
      }),
      RUNS,
    );
  });
});
