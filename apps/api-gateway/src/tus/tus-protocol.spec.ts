import { createHash } from 'node:crypto';
import {
  TusError,
  assertTusResumable,
  checksumMismatch,
  commonHeaders,
  contiguousOffset,
  formatUploadMetadata,
  headHeaders,
  isOffsetStream,
  optionsHeaders,
  parseCreationLength,
  parseUploadChecksum,
  parseUploadMetadata,
  parseUploadOffset,
  patchHeaders,
  type TusUploadState,
} from './tus-protocol';
import { thrownKilnError } from '../../../../test/thrown';

const b64 = (s: string) => Buffer.from(s).toString('base64');

const thrown = thrownKilnError;

describe('Upload-Metadata', () => {
  it('decodes comma-separated "key base64" pairs, keys without a value, UTF-8 values', () => {
    const header = `filename ${b64('Ünïcode film.mov')},filetype ${b64('video/quicktime')}, is_confidential ,job_id ${b64('0b8b4b33-0000-4000-8000-000000000000')}`;
    expect(parseUploadMetadata(header)).toEqual({
      filename: 'Ünïcode film.mov',
      filetype: 'video/quicktime',
      is_confidential: '',
      job_id: '0b8b4b33-0000-4000-8000-000000000000',
    });
    expect(parseUploadMetadata(undefined)).toEqual({});
    expect(parseUploadMetadata('  ')).toEqual({});
  });

  it('round-trips with formatUploadMetadata', () => {
    const values = { filename: 'a,b c.wav', target: 'mp3', empty: '' };
    expect(parseUploadMetadata(formatUploadMetadata(values))).toEqual(values);
  });

  it.each([
    ['a value that is not Base64', 'filename héllo'],
    ['Base64 with bad padding', 'filename abc'],
    ['a key twice', `a ${b64('1')},a ${b64('2')}`],
    ['an empty pair', `a ${b64('1')},`],
    ['three words', `a ${b64('1')} ${b64('2')}`],
    ['a key with a non-ASCII character', `fïle ${b64('x')}`],
  ])('refuses %s (400, field Upload-Metadata)', (_what, header) => {
    const err = thrown(() => parseUploadMetadata(header));
    expect(err.status).toBe(400);
    expect(err.details?.[0].field).toBe('Upload-Metadata');
  });
});

describe('Upload-Checksum', () => {
  const bytes = Buffer.from('some bytes of a PATCH');

  it('parses sha1 and sha256 with their Base64 digests (algorithm case-insensitive)', () => {
    const sha1 = createHash('sha1').update(bytes).digest();
    const sha256 = createHash('sha256').update(bytes).digest();
    expect(parseUploadChecksum(`sha1 ${sha1.toString('base64')}`)).toEqual({ algorithm: 'sha1', digest: sha1 });
    expect(parseUploadChecksum(`SHA256 ${sha256.toString('base64')}`)).toEqual({ algorithm: 'sha256', digest: sha256 });
    expect(parseUploadChecksum(undefined)).toBeUndefined();
  });

  it('answers 400 for an unsupported algorithm, a malformed value or a digest of the wrong length', () => {
    const md5 = createHash('md5').update(bytes).digest('base64');
    const unsupported = thrown(() => parseUploadChecksum(`md5 ${md5}`));
    expect(unsupported.status).toBe(400);
    expect(unsupported.message).toMatch(/md5 is not supported/);
    expect(thrown(() => parseUploadChecksum('sha1')).status).toBe(400);
    expect(thrown(() => parseUploadChecksum('sha1 !!!')).status).toBe(400);
    expect(
      thrown(() => parseUploadChecksum(`sha256 ${createHash('sha1').update(bytes).digest('base64')}`)).status,
    ).toBe(400);
  });

  it('a mismatch is 460 "Checksum Mismatch"', () => {
    const err = checksumMismatch('sha256');
    expect(err).toBeInstanceOf(TusError);
    expect(err.status).toBe(460);
    expect(err.statusText).toBe('Checksum Mismatch');
    expect(err.toBody().error.code).toBe('unprocessable');
  });
});

describe('request headers', () => {
  it('Tus-Resumable must be 1.0.0: otherwise 412 with Tus-Version', () => {
    expect(() => assertTusResumable('1.0.0')).not.toThrow();
    for (const v of ['0.2.2', undefined, '']) {
      const err = thrown(() => assertTusResumable(v));
      expect(err.status).toBe(412);
      expect(err.headers).toEqual({ 'Tus-Version': '1.0.0' });
    }
  });

  it('Upload-Offset is a required non-negative integer', () => {
    expect(parseUploadOffset('0')).toBe(0);
    expect(parseUploadOffset(' 5242880 ')).toBe(5242880);
    for (const v of [undefined, '-1', '1.5', 'abc', '99999999999999999'])
      expect(thrown(() => parseUploadOffset(v)).status).toBe(400);
  });

  it('creation needs Upload-Length (≥ 1) or Upload-Defer-Length: 1, not both', () => {
    expect(parseCreationLength('10', undefined)).toEqual({ deferred: false, length: 10 });
    expect(parseCreationLength(undefined, '1')).toEqual({ deferred: true });
    expect(thrown(() => parseCreationLength(undefined, undefined)).details?.[0].field).toBe('Upload-Length');
    expect(thrown(() => parseCreationLength('0', undefined)).status).toBe(400);
    expect(thrown(() => parseCreationLength('10', '1')).status).toBe(400);
    expect(thrown(() => parseCreationLength(undefined, '2')).details?.[0].field).toBe('Upload-Defer-Length');
  });

  it('recognises application/offset+octet-stream with or without parameters', () => {
    expect(isOffsetStream('application/offset+octet-stream')).toBe(true);
    expect(isOffsetStream('Application/Offset+Octet-Stream; charset=binary')).toBe(true);
    expect(isOffsetStream('application/octet-stream')).toBe(false);
    expect(isOffsetStream(undefined)).toBe(false);
  });
});

describe('answer headers', () => {
  const state: TusUploadState = {
    offset: 1024,
    length: 4096,
    metadata: `filename ${b64('a.wav')}`,
    expiresAt: new Date('2026-12-01T10:20:30.000Z'),
    status: 'uploading',
    jobId: '0b8b4b33-0000-4000-8000-000000000000',
  };

  it('HEAD: offset, length, metadata as sent, expiry in RFC 7231 form, no-store', () => {
    expect(headHeaders(state)).toEqual({
      'Cache-Control': 'no-store',
      'Upload-Offset': '1024',
      'Upload-Length': '4096',
      'Upload-Metadata': `filename ${b64('a.wav')}`,
      'Upload-Expires': 'Tue, 01 Dec 2026 10:20:30 GMT',
      'Kiln-Job-Id': state.jobId,
      'Kiln-Upload-Status': 'uploading',
    });
  });

  it('HEAD of a deferred length says so; a complete upload has no expiry; no metadata, no header', () => {
    const h = headHeaders({ ...state, length: null, metadata: null, jobId: null });
    expect(h['Upload-Defer-Length']).toBe('1');
    expect(h).not.toHaveProperty('Upload-Length');
    expect(h).not.toHaveProperty('Upload-Metadata');
    expect(h).not.toHaveProperty('Kiln-Job-Id');
    expect(headHeaders({ ...state, status: 'complete', offset: 4096 })).not.toHaveProperty('Upload-Expires');
  });

  it('PATCH: the new offset and the expiry', () => {
    expect(patchHeaders({ ...state, jobId: null })).toEqual({
      'Upload-Offset': '1024',
      'Upload-Expires': 'Tue, 01 Dec 2026 10:20:30 GMT',
    });
  });

  it('OPTIONS: version, extensions, max size, checksum algorithms', () => {
    expect(optionsHeaders(10 * 1024 ** 3)).toEqual({
      'Tus-Version': '1.0.0',
      'Tus-Extension':
        'creation,creation-with-upload,creation-defer-length,expiration,checksum,termination,concatenation',
      'Tus-Max-Size': '10737418240',
      'Tus-Checksum-Algorithm': 'sha1,sha256',
    });
  });

  it('every answer has Tus-Resumable; a cross-origin caller gets CORS headers, a preflight the allowed methods and headers', () => {
    expect(commonHeaders(undefined)).toEqual({ 'Tus-Resumable': '1.0.0' });
    const actual = commonHeaders('https://app.example');
    expect(actual['Access-Control-Allow-Origin']).toBe('https://app.example');
    expect(actual['Access-Control-Expose-Headers'].split(', ')).toEqual(
      expect.arrayContaining([
        'Location',
        'Upload-Offset',
        'Upload-Length',
        'Upload-Expires',
        'Tus-Resumable',
        'Tus-Version',
        'Kiln-Job-Id',
      ]),
    );
    expect(actual).not.toHaveProperty('Access-Control-Allow-Methods');
    const preflight = commonHeaders('https://app.example', true);
    expect(preflight['Access-Control-Allow-Methods']).toBe('POST, HEAD, PATCH, DELETE, OPTIONS');
    expect(preflight['Access-Control-Allow-Headers'].split(', ')).toEqual(
      expect.arrayContaining([
        'Upload-Offset',
        'Upload-Length',
        'Upload-Metadata',
        'Upload-Checksum',
        'Upload-Defer-Length',
        'Tus-Resumable',
        'X-Job-Token',
        'X-Api-Key',
        'Authorization',
        'Content-Type',
      ]),
    );
  });

  it('the resume offset is the end of the bytes stored contiguously from 0', () => {
    expect(contiguousOffset([])).toBe(0);
    expect(contiguousOffset([[0, 99]])).toBe(100);
    expect(
      contiguousOffset([
        [0, 99],
        [200, 299],
      ]),
    ).toBe(100);
    expect(contiguousOffset([[10, 99]])).toBe(0);
  });
});
