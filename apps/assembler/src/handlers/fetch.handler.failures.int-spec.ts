// FetchHandler failures against real PostgreSQL, S3 and Redis/BullMQ and a real HTTP server: HTTP
// errors, bodies too large or cut short, timeouts, redirects refused, retries until the last attempt,
// a worker shutting down, and private addresses refused when KILN_ALLOW_PRIVATE_URLS=false.

import { MAX_REDIRECTS } from '@kiln/outbound-http';
import { LIMIT, closedEarly, hits, local } from './testing/remote-server';
import {
  context,
  expectInputFailed,
  handler,
  objectsUnder,
  prisma,
  seed,
  useFetchServices,
  waitFor,
} from './testing/fetch-services';

jest.setTimeout(30_000);
useFetchServices();

describe('FetchHandler: failures', () => {
  it('a 404 fails the input and the job, whose errors name the input', async () => {
    const s = await seed([local('/missing')]);
    const outcome = await handler().handle({ jobId: s.jobId, inputId: s.inputIds[0] }, context(false));
    expect(outcome).toEqual({
      status: 'failed',
      code: 'download_failed',
      message: expect.stringMatching(/answered 404 Not Found/),
    });
    await expectInputFailed(s, 'download_failed', /404 Not Found/);
    const job = await prisma.job.findUniqueOrThrow({ where: { id: s.jobId } });
    expect((job.errors as { message: string }[])[0].message).toContain(local('/missing')); // no filename: named by its URL
  });

  it('a 503 is retried (thrown, input still uploading) until the last attempt, which fails it', async () => {
    const s = await seed([local('/unavailable')]);
    await expect(handler().handle({ jobId: s.jobId, inputId: s.inputIds[0] }, context(false))).rejects.toThrow(
      /answered 503.*will retry/,
    );
    expect((await prisma.input.findUniqueOrThrow({ where: { id: s.inputIds[0] } })).status).toBe('uploading');
    expect((await prisma.job.findUniqueOrThrow({ where: { id: s.jobId } })).status).toBe('downloading');
    const outcome = await handler().handle({ jobId: s.jobId, inputId: s.inputIds[0] }, context(true));
    expect(outcome).toMatchObject({ status: 'failed', code: 'download_failed' });
    await expectInputFailed(s, 'download_failed', /503/);
  });

  it('a Content-Length over KILN_MAX_FILE_SIZE fails with payload_too_large before the body is read', async () => {
    const s = await seed([local('/big')]);
    const early = closedEarly;
    const outcome = await handler().handle({ jobId: s.jobId, inputId: s.inputIds[0] }, context(false));
    expect(outcome).toEqual({
      status: 'failed',
      code: 'payload_too_large',
      message: `the file has ${LIMIT + 1} bytes; the limit is ${LIMIT}`,
    });
    await expectInputFailed(s, 'payload_too_large', /the limit is/);
    await waitFor(() => closedEarly > early); // we hung up on the server
  });

  it('a body without Content-Length that grows past the limit fails with payload_too_large, nothing stored', async () => {
    const s = await seed([local('/big-chunked')]);
    const outcome = await handler().handle({ jobId: s.jobId, inputId: s.inputIds[0] }, context(false));
    expect(outcome).toMatchObject({ status: 'failed', code: 'payload_too_large' });
    await expectInputFailed(s, 'payload_too_large', /larger than the limit/);
  });

  it('a body cut short is a transient failure', async () => {
    const s = await seed([local('/short')]);
    await expect(handler().handle({ jobId: s.jobId, inputId: s.inputIds[0] }, context(false))).rejects.toThrow(
      /will retry/,
    );
    const outcome = await handler().handle({ jobId: s.jobId, inputId: s.inputIds[0] }, context(true));
    expect(outcome).toMatchObject({ status: 'failed', code: 'download_failed' });
    await expectInputFailed(s, 'download_failed', /closed the connection before the whole body arrived/);
  });

  it('a server that stalls mid-body times out (idle), retried until the last attempt', async () => {
    const s = await seed([local('/stall')]);
    const h = handler({ KILN_FETCH_TIMEOUT_SECONDS: '1' });
    // The idle timer, not the server (which never ends the body), ends the download.
    await expect(h.handle({ jobId: s.jobId, inputId: s.inputIds[0] }, context(false))).rejects.toThrow(
      /sent no data for 1 s \(timeout\)/,
    );
    const outcome = await h.handle({ jobId: s.jobId, inputId: s.inputIds[0] }, context(true));
    expect(outcome).toMatchObject({
      status: 'failed',
      code: 'download_failed',
      message: expect.stringMatching(/timeout/),
    });
    await expectInputFailed(s, 'download_failed', /sent no data for 1 s/);
  });

  it('a server that never answers times out', async () => {
    const s = await seed([local('/silent')]);
    const outcome = await handler({ KILN_FETCH_TIMEOUT_SECONDS: '1' }).handle(
      { jobId: s.jobId, inputId: s.inputIds[0] },
      context(true),
    );
    expect(outcome).toMatchObject({
      status: 'failed',
      code: 'download_failed',
      message: expect.stringMatching(/did not answer for 1 s/),
    });
  });

  it('a download over KILN_FETCH_MAX_SECONDS fails without retry even while bytes trickle in', async () => {
    const s = await seed([local('/trickle')]);
    const outcome = await handler({ KILN_FETCH_TIMEOUT_SECONDS: '1', KILN_FETCH_MAX_SECONDS: '1' }).handle(
      { jobId: s.jobId, inputId: s.inputIds[0] },
      context(false),
    );
    expect(outcome).toMatchObject({
      status: 'failed',
      code: 'download_failed',
      message: 'the download did not finish within 1 s',
    });
    await expectInputFailed(s, 'download_failed', /did not finish within 1 s/);
  });

  it('refuses more than 5 redirects, a redirect to another scheme, and one without Location', async () => {
    const loop = await seed([local('/loop/0')]);
    const before = hits.length;
    expect(await handler().handle({ jobId: loop.jobId, inputId: loop.inputIds[0] }, context(false))).toMatchObject({
      status: 'failed',
      code: 'invalid_input',
      message: 'more than 5 redirects',
    });
    expect(hits.length - before).toBe(MAX_REDIRECTS + 1);
    await expectInputFailed(loop, 'invalid_input', /more than 5 redirects/);

    const ftp = await seed([local('/ftp')]);
    expect(await handler().handle({ jobId: ftp.jobId, inputId: ftp.inputIds[0] }, context(false))).toMatchObject({
      status: 'failed',
      code: 'invalid_input',
      message: expect.stringMatching(/scheme ftp:/),
    });

    const none = await seed([local('/no-location')]);
    expect(await handler().handle({ jobId: none.jobId, inputId: none.inputIds[0] }, context(false))).toMatchObject({
      status: 'failed',
      code: 'download_failed',
      message: expect.stringMatching(/without a Location/),
    });
  });

  it('a refused connection is retried until the last attempt', async () => {
    const s = await seed(['http://127.0.0.1:1/file.bin']);
    await expect(handler().handle({ jobId: s.jobId, inputId: s.inputIds[0] }, context(false))).rejects.toThrow(
      /ECONNREFUSED.*will retry/,
    );
    const outcome = await handler().handle({ jobId: s.jobId, inputId: s.inputIds[0] }, context(true));
    expect(outcome).toMatchObject({ status: 'failed', code: 'download_failed' });
    await expectInputFailed(s, 'download_failed', /the connection to 127\.0\.0\.1:1 failed/);
  });

  it('a worker shutting down mid-download throws (BullMQ retries) and leaves the input to the next attempt', async () => {
    const s = await seed([local('/stall')]);
    const abort = new AbortController();
    const ctx = { ...context(true), signal: abort.signal };
    setTimeout(() => abort.abort(new Error('shutdown grace period over')), 200);
    await expect(handler().handle({ jobId: s.jobId, inputId: s.inputIds[0] }, ctx)).rejects.toThrow(
      'shutdown grace period over',
    );
    expect((await prisma.input.findUniqueOrThrow({ where: { id: s.inputIds[0] } })).status).toBe('uploading');
    expect((await prisma.job.findUniqueOrThrow({ where: { id: s.jobId } })).status).toBe('downloading');
    expect(await objectsUnder(`inputs/${s.jobId}/`)).toEqual([]);
  });

  it('a host that does not resolve fails the input', async () => {
    const s = await seed(['http://no-such-host.invalid/file.bin']);
    const outcome = await handler().handle({ jobId: s.jobId, inputId: s.inputIds[0] }, context(true));
    expect(outcome).toMatchObject({
      status: 'failed',
      code: 'download_failed',
      message: expect.stringMatching(/no-such-host\.invalid/),
    });
  });
});

describe('FetchHandler with KILN_ALLOW_PRIVATE_URLS=false', () => {
  it.each([
    ['127.0.0.1 (literal)', () => local('/file.bin'), /address 127\.0\.0\.1 is private/],
    ['[::1] (literal)', () => local('/file.bin', '[::1]'), /address ::1 is private/],
    ['10.0.0.1 (literal)', () => 'http://10.0.0.1/file.bin', /address 10\.0\.0\.1 is private/],
    [
      '169.254.169.254 (metadata)',
      () => 'http://169.254.169.254/latest/meta-data/',
      /address 169\.254\.169\.254 is private/,
    ],
    [
      'localhost (checked at connect, by the guarded lookup)',
      () => local('/file.bin', 'localhost'),
      /localhost resolves to a private or reserved address/,
    ],
  ])('refuses %s without reaching the server', async (_name, source, message) => {
    const s = await seed([source()]);
    const before = hits.length;
    const outcome = await handler({ KILN_ALLOW_PRIVATE_URLS: 'false' }).handle(
      { jobId: s.jobId, inputId: s.inputIds[0] },
      context(false),
    );
    expect(outcome).toMatchObject({ status: 'failed', code: 'invalid_input', message: expect.stringMatching(message) });
    expect(hits.length).toBe(before);
    await expectInputFailed(s, 'invalid_input', message);
  });
});
