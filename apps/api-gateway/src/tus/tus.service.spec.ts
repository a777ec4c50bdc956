import { creationSpec, tusState } from './tus.service';
import { thrownKilnError } from '../../../../test/thrown';

const JOB = '0b8b4b33-0000-4000-8000-000000000000';
const INPUT = '1c9c5c44-0000-4000-8000-000000000000';

const thrown = thrownKilnError;

describe('creationSpec (what Upload-Metadata asks for)', () => {
  it('reads filename / filetype and the keys that bind the upload', () => {
    expect(
      creationSpec({
        filename: 'film.mov',
        filetype: 'video/quicktime',
        job_id: JOB.toUpperCase(),
        input_id: INPUT,
        checksum_sha256: 'AB'.repeat(32),
        other: 'x',
      }),
    ).toEqual({
      filename: 'film.mov',
      contentType: 'video/quicktime',
      jobId: JOB,
      inputId: INPUT,
      checksumSha256: 'ab'.repeat(32),
    });
  });

  it('takes Uppy-style name/type and content_type, drops an odd type, and refuses a file name that is not one', () => {
    expect(creationSpec({ name: ' clip one.mp4 ', type: 'text/plain' })).toEqual({
      filename: 'clip one.mp4',
      contentType: 'text/plain',
    });
    for (const [meta, field] of [
      [{ name: '../../etc/passwd' }, 'Upload-Metadata.name'],
      [{ filename: 'a\u0000.mp4' }, 'Upload-Metadata.filename'],
      [{ filename: 'a.mp4\r\nX: 1' }, 'Upload-Metadata.filename'],
      [{ filename: 'x'.repeat(10_000) }, 'Upload-Metadata.filename'],
    ] as const) {
      const err = thrown(() => creationSpec(meta));
      expect([err.status, err.code, err.details?.[0].field]).toEqual([400, 'invalid_input', field]);
    }
    expect(creationSpec({ filename: 'a.bin', content_type: 'application/x-test' }).contentType).toBe(
      'application/x-test',
    );
    expect(creationSpec({ filename: 'a.bin', filetype: 'not a type' }).contentType).toBeNull();
    expect(creationSpec({})).toEqual({ filename: 'file', contentType: null });
  });

  it('target names a catalog target and creates a job, so it does not go with job_id', () => {
    expect(creationSpec({ filename: 'a.wav', target: 'MP3' }).target).toBe('mp3');
    expect(thrown(() => creationSpec({ target: 'doc' })).details?.[0].field).toBe('Upload-Metadata.target');
    expect(thrown(() => creationSpec({ target: 'mp3', job_id: JOB })).status).toBe(400);
  });

  it('refuses malformed ids and checksums, and input_id without job_id (400)', () => {
    expect(thrown(() => creationSpec({ job_id: 'nope' })).details?.[0].field).toBe('Upload-Metadata.job_id');
    expect(thrown(() => creationSpec({ input_id: INPUT })).details?.[0].message).toBe('needs job_id');
    expect(thrown(() => creationSpec({ job_id: JOB, input_id: '12' })).status).toBe(400);
    expect(thrown(() => creationSpec({ checksum_sha256: 'abc' })).details?.[0].field).toBe(
      'Upload-Metadata.checksum_sha256',
    );
  });
});

describe('tusState', () => {
  const upload = {
    id: 'u',
    size: 100n,
    lengthDeferred: false,
    tusMetadata: 'filename YS5iaW4=',
    expiresAt: new Date(0),
    status: 'uploading',
    jobId: null,
  };
  const result = (u: object, received: [number, number][]) =>
    ({ upload: { ...upload, ...u }, received, stored: false, complete: false, receivedBytes: 0, offset: 0 }) as never;

  it('offset = bytes contiguous from 0; length null while deferred; the size once complete', () => {
    expect(
      tusState(
        result({}, [
          [0, 39],
          [60, 79],
        ]),
      ),
    ).toMatchObject({ offset: 40, length: 100, metadata: 'filename YS5iaW4=' });
    expect(tusState(result({ lengthDeferred: true, size: 0n }, [[0, 39]]))).toMatchObject({ offset: 40, length: null });
    expect(tusState(result({ status: 'complete' }, [[0, 99]]))).toMatchObject({ offset: 100, status: 'complete' });
  });
});
