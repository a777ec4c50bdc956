// Property-based tests of everything a request carries before it reaches storage: the JSON bodies
// of jobs, inputs, conversions and upload sessions, the Content-Range header, tus headers and
// metadata. Every input either validates into values the database and the object store can hold,
// or is refused with a 4xx KilnError; nothing else is ever thrown (which would be a 500).
import fc from 'fast-check';
import { KilnError, isKeyFilename } from '@kiln/contracts';
import type { z } from 'zod';
import { conversionSpec, createJobBody, inputSpec, listJobsQuery, patchJobBody } from '../jobs/jobs.schemas';
import { parseContentRange, parseChunkDigest } from '@kiln/uploads';
import { EXPIRES_AT_MAX, createSessionBody } from '../uploads/upload-sessions.schemas';
import { creationSpec } from '../tus/tus.service';
import { parseCreationLength, parseUploadChecksum, parseUploadMetadata, parseUploadOffset } from '../tus/tus-protocol';
import { parseOrThrow } from './validation';

const RUNS = { numRuns: 1500 };

/** Runs fn: its value, or the KilnError it threw (anything else is rethrown and fails the property). */
function settle<T>(fn: () => T): { ok: T } | { refused: KilnError } {
  try {
    return { ok: fn() };
  } catch (err: unknown) {
    if (err instanceof KilnError) return { refused: err };
    throw err;
  }
}

function expectClientError(r: { refused: KilnError }): void {
  expect(r.refused.status).toBeGreaterThanOrEqual(400);
  expect(r.refused.status).toBeLessThan(500);
}

// --- values a hostile client sends -------------------------------------------------------------

const badStrings = fc.constantFrom(
  '',
  ' ',
  '\u0000',
  'a\u0000.mp4',
  'clip.mp4\r\nX-Injected: 1',
  '../../etc/passwd',
  '/etc/passwd',
  '..',
  'x'.repeat(10 * 1024),
  '\u202egpj.exe',
  '\ud800',
  'clip.mp4',
  'mp3',
  'mp4',
  'https://example.com/a.mp4',
  'http://127.0.0.1/',
  'http://example.com/\u0000',
  'upload',
  'remote',
  '0b6f2f5e-8a43-4d1c-9c1e-4f1e2d3c4b5a',
  'a'.repeat(64),
  'video/mp4',
);
const anyString = fc.oneof(fc.string({ unit: 'binary', maxLength: 80 }), fc.string({ maxLength: 20 }), badStrings);
const badNumbers = fc.constantFrom(
  1e15,
  1e300,
  -1,
  -0,
  0,
  1,
  0.5,
  2 ** 53,
  2 ** 53 - 1,
  2 ** 31,
  EXPIRES_AT_MAX,
  EXPIRES_AT_MAX + 1,
  4_102_444_800,
  Number.MAX_VALUE,
  Number.MIN_VALUE,
);
const anyNumber = fc.oneof(fc.integer(), fc.double(), fc.nat(), badNumbers);
const keys = fc.oneof(
  fc.constantFrom(
    'filename',
    'size',
    'expires_at',
    'type',
    'source',
    'upload_id',
    'input',
    'conversion',
    'process',
    'callback',
    'tag',
    'target',
    'options',
    'job_id',
    'input_id',
    'content_type',
    'checksum_sha256',
    'audio_bitrate',
    'width',
    'crf',
    '__proto__',
    'constructor',
  ),
  fc.string({ maxLength: 12 }),
);
const { value: anyValue } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    anyString,
    anyNumber,
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(keys, tie('value'), { maxKeys: 4 }),
  ),
}));

/** What JSON.parse hands the gateway (NaN and Infinity become null, -0 becomes 0, undefined goes). */
const asJson = <T>(arb: fc.Arbitrary<T>) => arb.map((v) => JSON.parse(JSON.stringify(v) ?? 'null') as unknown);

/** An object with some of the schema's own fields (each any value), sometimes one unknown field. */
function shaped(fields: string[]) {
  return asJson(fc.record(Object.fromEntries(fields.map((f) => [f, anyValue])), { requiredKeys: [] }));
}
/** A valid body with some fields replaced by anything: reaches the checks that come after the obvious ones. */
function mutated(valid: fc.Arbitrary<Record<string, unknown>>, fields: string[]) {
  return asJson(
    fc
      .tuple(
        valid,
        fc.subarray(fields, { minLength: 1, maxLength: 2 }),
        fc.array(fc.oneof(anyValue, badNumbers, anyNumber, badStrings), { minLength: 2, maxLength: 2 }),
      )
      .map(([body, replaced, values]) => {
        const out: Record<string, unknown> = { ...body };
        replaced.forEach((f, n) => {
          out[f] = values[n];
        });
        return out;
      }),
  );
}
const goodName = fc.constantFrom('clip.mp4', 'My Movie (final).mov', 'été.wav');
const validSession = fc.record({
  filename: goodName,
  size: fc.integer({ min: 1, max: 2 ** 40 }),
  expires_at: fc.constantFrom(0, 4_102_444_800),
});
const validUploadInput = fc.record({ type: fc.constant('upload'), filename: goodName, size: fc.nat() });
const validRemoteInput = fc.record({
  type: fc.constant('remote'),
  source: fc.constant('https://example.com/a.mp4'),
  filename: goodName,
});
const inputLike = fc.oneof(
  mutated(validUploadInput, ['filename', 'size']),
  mutated(validRemoteInput, ['filename', 'source']),
  shaped(['type', 'filename', 'size', 'upload_id', 'source']),
  asJson(anyValue),
);
const conversionLike = fc.oneof(shaped(['target', 'options']), asJson(anyValue));
const bodies = {
  createJob: fc.oneof(
    asJson(
      fc.record(
        {
          process: anyValue,
          input: fc.array(inputLike, { maxLength: 3 }),
          conversion: fc.array(conversionLike, { maxLength: 2 }),
          callback: anyValue,
          tag: anyValue,
        },
        { requiredKeys: [] },
      ),
    ),
    mutated(
      fc.record({
        process: fc.boolean(),
        input: fc.array(fc.oneof(validUploadInput, validRemoteInput), { maxLength: 2 }),
        tag: fc.constant('t'),
      }),
      ['tag', 'process'],
    ),
    asJson(anyValue),
  ),
  patchJob: fc.oneof(shaped(['process', 'callback', 'tag']), asJson(anyValue)),
  input: inputLike,
  conversion: conversionLike,
  session: fc.oneof(
    mutated(validSession, ['filename', 'size', 'expires_at']),
    shaped(['filename', 'size', 'job_id', 'input_id', 'content_type', 'checksum_sha256', 'expires_at']),
    asJson(anyValue),
  ),
};

/** Every string in a validated value can be written to PostgreSQL and travel in a header; every number is finite. */
function expectStorable(value: unknown, path = 'body'): void {
  if (typeof value === 'string') {
    // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
    expect({ path, bad: /[\u0000-\u001f\u007f-\u009f]/.test(value) }).toEqual({ path, bad: false });
  } else if (typeof value === 'number') {
    expect(Number.isFinite(value)).toBe(true);
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) expectStorable(v, `${path}.${k}`);
  }
}

function checkSchema(
  schema: z.ZodType,
  arb: fc.Arbitrary<unknown>,
  extra: (ok: unknown) => void = () => undefined,
): void {
  fc.assert(
    fc.property(arb, (body) => {
      const r = settle(() => parseOrThrow(schema, body));
      if ('refused' in r) {
        expect(r.refused.code).toBe('invalid_input');
        expect(r.refused.details?.length).toBeGreaterThan(0);
        return;
      }
      expectStorable(r.ok);
      extra(r.ok);
    }),
    RUNS,
  );
}

const filenameOk = (input: { filename?: string }) => input.filename === undefined || isKeyFilename(input.filename);
const sizeOk = (size: number | undefined) => size === undefined || (Number.isSafeInteger(size) && size >= 0);

describe('request bodies: every body validates into storable values or is a 400 invalid_input', () => {
  it('POST /v1/jobs', () => {
    checkSchema(createJobBody, bodies.createJob, (ok) => {
      for (const i of (ok as z.infer<typeof createJobBody>).input) {
        expect(filenameOk(i)).toBe(true);
        if (i.type === 'upload') expect(sizeOk(i.size)).toBe(true);
      }
    });
  });

  it('POST /v1/jobs/{id}/input', () => {
    checkSchema(inputSpec, bodies.input, (ok) => {
      const i = ok as z.infer<typeof inputSpec>;
      expect(filenameOk(i)).toBe(true);
      if (i.type === 'upload') expect(sizeOk(i.size)).toBe(true);
    });
  });

  it('POST /v1/jobs/{id}/conversions', () => checkSchema(conversionSpec, bodies.conversion));
  it('PATCH /v1/jobs/{id}', () => checkSchema(patchJobBody, bodies.patchJob));

  it('GET /v1/jobs query', () => {
    const query = asJson(
      fc.record(
        { status: anyString, limit: fc.oneof(anyString, anyNumber.map(String)), cursor: anyString },
        { requiredKeys: [] },
      ),
    );
    fc.assert(
      fc.property(query, (q) => {
        const r = settle(() => parseOrThrow(listJobsQuery, q, 'query'));
        if ('refused' in r) expect(r.refused.code).toBe('invalid_input');
      }),
      RUNS,
    );
  });

  it('POST /v1/uploads', () => {
    checkSchema(createSessionBody, bodies.session, (ok) => {
      const s = ok as z.infer<typeof createSessionBody>;
      expect(isKeyFilename(s.filename)).toBe(true);
      expect(Number.isSafeInteger(s.size) && s.size >= 1).toBe(true);
      if (s.expires_at !== undefined) {
        expect(Number.isNaN(new Date(s.expires_at * 1000).getTime())).toBe(false);
        expect(new Date(s.expires_at * 1000).getUTCFullYear()).toBeLessThanOrEqual(9999);
      }
    });
  });

  it.each(
    [
      [{ filename: 'a\u0000.mp4', size: 1 }, 'filename'],
      [{ filename: 'clip.mp4\r\n', size: 1 }, 'filename'],
      [{ filename: '../../etc/passwd', size: 1 }, 'filename'],
      [{ filename: 'x'.repeat(10_240), size: 1 }, 'filename'],
      [{ filename: 'a.mp4', size: -1 }, 'size'],
      [{ filename: 'a.mp4', size: 0 }, 'size'],
      [{ filename: 'a.mp4', size: 1e300 }, 'size'],
      [{ filename: 'a.mp4', size: 2 ** 53 }, 'size'],
      [{ filename: 'a.mp4', size: 1.5 }, 'size'],
      [{ filename: 'a.mp4', size: 1, expires_at: 1e15 }, 'expires_at'],
      [{ filename: 'a.mp4', size: 1, expires_at: EXPIRES_AT_MAX + 1 }, 'expires_at'],
      [{ filename: 'a.mp4', size: 1, expires_at: -5 }, 'expires_at'],
    ].map(([body, field]) => [JSON.stringify(body).slice(0, 90), field, body] as const),
  )('POST /v1/uploads %s names %s', (_title, field, body) => {
    const r = settle(() => parseOrThrow(createSessionBody, body));
    expect('refused' in r && [r.refused.code, r.refused.details?.[0].field]).toEqual(['invalid_input', field]);
  });

  it.each(
    [
      [{ input: [{ type: 'upload', filename: 'a\u0000.mp4' }] }, 'input.0.filename'],
      [
        { input: [{ type: 'remote', source: 'https://example.com/a.mp4', filename: 'a\r\nb.mp4' }] },
        'input.0.filename',
      ],
      [{ input: [{ type: 'upload', filename: '../../etc/passwd' }] }, 'input.0.filename'],
      [{ input: [{ type: 'upload', size: -1 }] }, 'input.0.size'],
      [{ input: [{ type: 'upload', size: 1e300 }] }, 'input.0.size'],
      [{ input: [{ type: 'remote', source: 'https://example.com/\u0000.mp4' }] }, 'input.0.source'],
      [{ tag: 'a\u0000' }, 'tag'],
    ].map(([body, field]) => [JSON.stringify(body).slice(0, 90), field, body] as const),
  )('POST /v1/jobs %s names %s', (_title, field, body) => {
    const r = settle(() => parseOrThrow(createJobBody, body));
    expect('refused' in r && [r.refused.code, r.refused.details?.[0].field]).toEqual(['invalid_input', field]);
  });
});

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
