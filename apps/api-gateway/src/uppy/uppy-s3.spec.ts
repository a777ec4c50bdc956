// What Kiln makes of Uppy's requests: the create body from a file's name, type and metadata, the
// metadata of a query string, batch part numbers and the upload a key names.
import { KilnError } from '@kiln/contracts';
import type { Principal } from '../auth/principal';
import { UPPY_MIN_PART, createBodyOf, keyTarget, partNumbersOf, queryMetadata } from './uppy-s3';

const key: Principal = { kind: 'key', ownerKeyHash: 'a'.repeat(64), scopes: [] };
const jobId = '3f1d1a52-6c1e-4c7e-9a51-2b2d6a0f9e11';
const token: Principal = { kind: 'job-token', jobId, ownerKeyHash: 'a'.repeat(64) };

function refusal(fn: () => unknown): KilnError {
  try {
    fn();
  } catch (err) {
    if (err instanceof KilnError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('Uppy requests as Kiln direct sessions', () => {
  it("asks for Uppy's own part size: 5 MiB unless the page says otherwise (Kiln raises it past 10000 parts as Uppy does)", () => {
    expect(createBodyOf('a.wav', 'audio/wav', { size: 42_000_000, name: 'a.wav' }, key, 'multipart')).toEqual({
      filename: 'a.wav',
      mode: 'direct',
      transfer: 'multipart',
      size: 42_000_000,
      part_size: UPPY_MIN_PART,
      content_type: 'audio/wav',
    });
    expect(
      createBodyOf('a.wav', 'audio/wav', { size: '42000000', part_size: '8388608' }, key, 'multipart'),
    ).toMatchObject({
      part_size: 8 * 1024 * 1024,
    });
    // Uppy never cuts parts under 5 MiB, whatever getChunkSize says.
    expect(createBodyOf('a', 'x/y', { size: 9, part_size: 1024 }, key, 'multipart').part_size).toBe(UPPY_MIN_PART);
  });

  it("needs the file's size in the metadata (Uppy does not send it) and refuses bad fields with the field's name", () => {
    expect(refusal(() => createBodyOf('a.wav', 'audio/wav', {}, key, 'form')).details).toEqual([
      { field: 'metadata.size', message: expect.stringContaining('meta.size') },
    ]);
    expect(refusal(() => createBodyOf('a.wav', 'audio/wav', { size: 10, job_id: 'x' }, key, 'form')).code).toBe(
      'invalid_input',
    );
    expect(refusal(() => createBodyOf('', 'audio/wav', { size: 10 }, key, 'form')).details?.[0]).toMatchObject({
      field: 'filename',
    });
  });

  it("puts a job token's uploads into its job, keeps input_id and the checksum, and drops octet-stream", () => {
    const sha = 'AB'.repeat(32);
    const input = '9b0c8d7e-1111-4222-8333-944455556666';
    expect(
      createBodyOf(
        'b.png',
        'application/octet-stream',
        { size: 5, input_id: input, checksum_sha256: sha },
        token,
        'form',
      ),
    ).toEqual({
      filename: 'b.png',
      mode: 'direct',
      transfer: 'form',
      size: 5,
      job_id: jobId,
      input_id: input,
      checksum_sha256: sha.toLowerCase(),
    });
  });

  it('reads metadata[...] from a raw query string and part numbers from a list', () => {
    expect(
      queryMetadata('/v1/uppy/s3/params?filename=a&type=b&metadata%5Bsize%5D=12&metadata[job_id]=x&other=1'),
    ).toEqual({
      size: '12',
      job_id: 'x',
    });
    expect(partNumbersOf('1,2,10000')).toEqual([1, 2, 10000]);
    expect(refusal(() => partNumbersOf('0,1')).details?.[0]).toMatchObject({ field: 'partNumbers' });
    expect(refusal(() => partNumbersOf(undefined)).code).toBe('invalid_input');
  });

  it('finds the upload a key names: the upload id, or the object key of a form upload', () => {
    const id = '0e5c1d2a-3b4c-4d5e-8f60-718293a4b5c6';
    expect(keyTarget(id.toUpperCase())).toBe(id);
    expect(keyTarget(`chunks/${id}/0-99.form`)).toBe(id);
    expect(keyTarget(`uploads/${id}/a.wav`)).toBe(id);
    expect(keyTarget(`inputs/${jobId}/${id}/a.wav`)).toBeUndefined();
    expect(keyTarget(`chunks/${id}/../x`)).toBeUndefined();
    expect(keyTarget('outputs/x/y')).toBeUndefined();
  });
});
