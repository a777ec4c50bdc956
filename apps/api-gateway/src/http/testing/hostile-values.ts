// What a hostile client sends, for the property-based tests of request bodies and headers
// (request-bodies.property.spec.ts, request-headers.property.spec.ts): strings, numbers and nested
// values of any shape, and settle(), which tells a 4xx KilnError from anything else thrown.
import fc from 'fast-check';
import { KilnError } from '@kiln/contracts';
import { EXPIRES_AT_MAX } from '../../uploads/upload-sessions.schemas';
export const RUNS = { numRuns: 1500 };

/** Runs fn: its value, or the KilnError it threw (anything else is rethrown and fails the property). */
export function settle<T>(fn: () => T): { ok: T } | { refused: KilnError } {
  try {
    return { ok: fn() };
  } catch (err: unknown) {
    if (err instanceof KilnError) return { refused: err };
    throw err;
  }
}

export function expectClientError(r: { refused: KilnError }): void {
  expect(r.refused.status).toBeGreaterThanOrEqual(400);
  expect(r.refused.status).toBeLessThan(500);
}

// --- values a hostile client sends -------------------------------------------------------------

export const badStrings = fc.constantFrom(
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
export const anyString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.string({ maxLength: 20 }),
  badStrings,
);
export const badNumbers = fc.constantFrom(
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
export const anyNumber = fc.oneof(fc.integer(), fc.double(), fc.nat(), badNumbers);
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
export const { value: anyValue } = fc.letrec<{ value: unknown }>((tie) => ({
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
export const asJson = <T>(arb: fc.Arbitrary<T>) => arb.map((v) => JSON.parse(JSON.stringify(v) ?? 'null') as unknown);
