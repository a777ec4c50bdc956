// The input specs of the jobs API (shared/design/API.md): each bad one is refused twice, as the body of
// POST /v1/jobs/{id}/input (field `x`) and inside POST /v1/jobs (field `input.<i>.x`), with a 400
// `invalid_input` naming the exact field; remote and upload inputs are accepted.
import { parseOrThrow } from '../http/validation';
import { createJobBody, inputSpec } from './jobs.schemas';
import { expectRefused } from './testing/refusals';
import { badInputs } from './testing/bad-job-requests';

describe('input specs', () => {
  describe.each(badInputs)('refuses: $why', ({ spec, fields }) => {
    it('as POST /v1/jobs/{id}/input', () => {
      expectRefused(inputSpec, spec, fields);
    });

    it('inside POST /v1/jobs (input.1.*)', () => {
      expectRefused(
        createJobBody,
        { input: [{ type: 'upload' }, spec] },
        fields.map((f) => `input.1.${f}`),
      );
    });
  });

  it('accepts remote and upload inputs', () => {
    expect(parseOrThrow(inputSpec, { type: 'remote', source: 'https://example.com/a.mp4', filename: 'a.mp4' })).toEqual(
      {
        type: 'remote',
        source: 'https://example.com/a.mp4',
        filename: 'a.mp4',
      },
    );
    expect(parseOrThrow(inputSpec, { type: 'remote', source: 'http://example.com:8080/a?b=c' })).toEqual({
      type: 'remote',
      source: 'http://example.com:8080/a?b=c',
    });
    expect(parseOrThrow(inputSpec, { type: 'upload' })).toEqual({ type: 'upload' });
    expect(parseOrThrow(inputSpec, { type: 'upload', upload_id: '6f1c2a52-3c2e-4a53-9d0e-1b2c3d4e5f60' })).toEqual({
      type: 'upload',
      upload_id: '6f1c2a52-3c2e-4a53-9d0e-1b2c3d4e5f60',
    });
    expect(parseOrThrow(inputSpec, { type: 'upload', size: 0, filename: 'empty.wav' })).toEqual({
      type: 'upload',
      size: 0,
      filename: 'empty.wav',
    });
  });
});
