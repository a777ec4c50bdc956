import {
  ApiError,
  JobFailedError,
  NetworkError,
  apiErrorFrom,
  describeFailure,
  failureJson,
  networkErrorFrom,
} from './api-error';

describe('apiErrorFrom', () => {
  it("reads the API's error JSON with its details, request id and Retry-After", async () => {
    const res = new Response(
      JSON.stringify({
        error: {
          code: 'invalid_input',
          message: 'Invalid body: conversion.0.target: unknown target "xyz"',
          details: [{ field: 'conversion.0.target', message: 'unknown target "xyz"' }],
          request_id: 'r1',
        },
      }),
      { status: 400, headers: { 'Retry-After': '2' } },
    );
    const err = await apiErrorFrom(res);
    expect(err).toMatchObject({ status: 400, code: 'invalid_input', requestId: 'r1', retryAfterMs: 2000 });
    expect(err.message).toBe('Invalid body: conversion.0.target: unknown target "xyz"');
    expect(err.details).toEqual([{ field: 'conversion.0.target', message: 'unknown target "xyz"' }]);
  });

  it('still says something readable for a body that is not the error JSON', async () => {
    const err = await apiErrorFrom(
      new Response('<html>Bad Gateway</html>', { status: 502, statusText: 'Bad Gateway' }),
    );
    expect(err).toMatchObject({ status: 502, code: 'http_error' });
    expect(err.message).toBe('HTTP 502 Bad Gateway: <html>Bad Gateway</html>');
  });
});

describe('describeFailure', () => {
  it('prints the message, each field detail not already in it, and the status', () => {
    const err = new ApiError(
      400,
      'invalid_input',
      'Invalid body: options.a: bad',
      [
        { field: 'options.a', message: 'bad' },
        { field: 'options.b', message: 'worse' },
      ],
      'rid',
    );
    expect(describeFailure(err)).toEqual([
      'Invalid body: options.a: bad',
      '  options.b: worse',
      '  (HTTP 400 invalid_input, request id rid)',
    ]);
  });

  it("lists a failed job's errors", () => {
    const err = new JobFailedError('j1', 'failed', [
      { code: 'unprocessable', message: 'notes.bin → mp3: not media', source: 'conversion' },
    ]);
    expect(describeFailure(err)).toEqual(['job j1 failed', '  unprocessable: notes.bin → mp3: not media']);
    expect(failureJson(err)).toEqual({
      error: { code: 'job_failed', message: err.message, job_id: 'j1', errors: err.errors },
    });
  });
});

describe('networkErrorFrom', () => {
  it('names the cause, and knows when nothing reached the server', () => {
    const refused = networkErrorFrom(
      Object.assign(new TypeError('fetch failed'), {
        cause: Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }),
      }),
      'GET http://h/v1/jobs',
    );
    expect(refused).toBeInstanceOf(NetworkError);
    expect(refused.message).toBe('GET http://h/v1/jobs: ECONNREFUSED');
    expect(refused.beforeRequest).toBe(true);
    const reset = networkErrorFrom(
      Object.assign(new TypeError('fetch failed'), {
        cause: Object.assign(new Error('reset'), { code: 'ECONNRESET' }),
      }),
      'PUT x',
    );
    expect(reset.beforeRequest).toBe(false);
  });
});
