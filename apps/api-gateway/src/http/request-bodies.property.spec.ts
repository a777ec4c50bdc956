// Property-based tests of the JSON bodies a request carries before it reaches storage: jobs, inputs,
// conversions and upload sessions. Every body either validates into values the database and the
// object store can hold, or is refused with a 400 invalid_input; nothing else is ever thrown (a 500).
import fc from 'fast-check';
import { isKeyFilename } from '@kiln/contracts';
import type { z } from 'zod';
import { conversionSpec, createJobBody, inputSpec, listJobsQuery, patchJobBody } from '../jobs/jobs.schemas';
import { EXPIRES_AT_MAX, createSessionBody } from '../uploads/upload-sessions.schemas';
import { parseOrThrow } from './validation';
import { RUNS, anyNumber, anyString, anyValue, asJson, badNumbers, badStrings, settle } from './testing/hostile-values';

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
