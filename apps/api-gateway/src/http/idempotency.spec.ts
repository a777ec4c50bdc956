import { KilnError } from '@kiln/contracts';
import { openApiDocument } from '../docs/openapi';
import { commonHeaders } from '../tus/tus-protocol';
import { canonicalJson, idempotencyKeyOf, requestFingerprint, takesIdempotencyKey } from './idempotency';

describe('Idempotency-Key', () => {
  it('accepts 1 to 255 visible ASCII characters and refuses anything else with a 400 naming the header', () => {
    expect(idempotencyKeyOf({ headers: {} })).toBeUndefined();
    for (const ok of ['a', '!', '~', 'x'.repeat(255), '3f1c6a0e-2b5d-4a51-9d1e-6f0f6c1b2a77'])
      expect(idempotencyKeyOf({ headers: { 'idempotency-key': ok } })).toBe(ok);
    for (const bad of ['', 'x'.repeat(256), 'a b', 'a\tb', 'a\u0001b', 'caf\u00e9', 'a\u007fb']) {
      let thrown: unknown;
      try {
        idempotencyKeyOf({ headers: { 'idempotency-key': bad } });
      } catch (err: unknown) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(KilnError);
      expect(thrown).toMatchObject({ code: 'invalid_input', status: 400, details: [{ field: 'Idempotency-Key' }] });
    }
  });

  it('fingerprints method, path and the body as canonical JSON (key order and spacing do not matter)', () => {
    expect(canonicalJson({ b: 1, a: [{ d: null, c: 'x' }], e: {} })).toBe('{"a":[{"c":"x","d":null}],"b":1,"e":{}}');
    expect(canonicalJson(undefined)).toBe('null');
    const fp = (method: string, path: string, body: unknown, headers: Record<string, string> = {}) =>
      requestFingerprint({ method, path, body, headers });
    const base = fp('POST', '/v1/jobs', { tag: 't', conversion: [{ target: 'mp3' }] });
    expect(fp('POST', '/v1/jobs', JSON.parse('{ "conversion": [ {"target":"mp3"} ], "tag": "t" }'))).toBe(base);
    expect(fp('POST', '/v1/jobs', { tag: 'u', conversion: [{ target: 'mp3' }] })).not.toBe(base);
    expect(fp('POST', '/v1/uploads', { tag: 't', conversion: [{ target: 'mp3' }] })).not.toBe(base);
    expect(fp('POST', '/v1/jobs', { conversion: [{ target: 'mp3' }] })).not.toBe(base);
    expect(base).toMatch(/^[0-9a-f]{64}$/);
    // A tus creation is its headers.
    const tus = (h: Record<string, string>) => fp('POST', '/v1/tus', undefined, h);
    const created = tus({ 'upload-length': '10', 'upload-metadata': 'filename YS53YXY=' });
    expect(tus({ 'upload-length': '10', 'upload-metadata': 'filename YS53YXY=', 'user-agent': 'x' })).toBe(created);
    expect(tus({ 'upload-length': '11', 'upload-metadata': 'filename YS53YXY=' })).not.toBe(created);
    expect(tus({ 'upload-length': '10' })).not.toBe(created);
  });

  it('applies to POSTs with JSON bodies, never to file bytes, and the OpenAPI document says so', () => {
    const takes = (method: string, path: string, headers: Record<string, string> = {}) =>
      takesIdempotencyKey({ method, path, headers });
    expect(takes('POST', '/v1/jobs')).toBe(true);
    expect(takes('POST', '/v1/jobs/1/conversions')).toBe(true);
    expect(takes('POST', '/v1/jobs/1/input')).toBe(true);
    expect(takes('POST', '/v1/uploads')).toBe(true);
    expect(takes('POST', '/v1/jobs/1/upload')).toBe(false);
    // tus: the creation without bytes (all headers) takes one; creation-with-upload streams its body.
    expect(takes('POST', '/v1/tus', { 'content-length': '0' })).toBe(true);
    expect(takes('POST', '/v1/tus', { 'content-length': '10' })).toBe(false);
    expect(takes('POST', '/v1/tus', { 'transfer-encoding': 'chunked' })).toBe(false);
    expect(takes('POST', '/v1/tus/1')).toBe(false);
    expect(takes('PUT', '/v1/uploads/1')).toBe(false);
    expect(takes('PATCH', '/v1/jobs/1')).toBe(false);
    expect(takes('POST', '/web/session')).toBe(false);

    const paths = openApiDocument().paths as Record<string, Record<string, { parameters?: { name: string }[] }>>;
    const withKey = Object.entries(paths)
      .filter(([, ops]) => ops.post?.parameters?.some((p) => p.name === 'Idempotency-Key'))
      .map(([path]) => path)
      .sort();
    expect(withKey).toEqual(
      expect.arrayContaining(['/v1/jobs', '/v1/jobs/{id}/conversions', '/v1/jobs/{id}/input', '/v1/uploads']),
    );
    expect(withKey).not.toContain('/v1/jobs/{id}/upload');
    expect(withKey).toContain('/v1/tus/');
    expect(withKey).not.toContain('/v1/tus/{id}');
    expect(withKey).not.toContain('/web/session');
    // Browsers' tus clients may send the key and read the replay mark across origins.
    const preflight = commonHeaders('https://app.example', true);
    expect(preflight['Access-Control-Allow-Headers'].split(', ')).toContain('Idempotency-Key');
    expect(preflight['Access-Control-Expose-Headers'].split(', ')).toContain('Idempotent-Replayed');
  });
});
