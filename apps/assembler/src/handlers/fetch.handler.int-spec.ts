// FetchHandler downloads against real PostgreSQL, S3 and Redis/BullMQ and a real HTTP server
// (testing/fetch-services.ts, testing/remote-server.ts): the file streamed into storage, redirects
// followed, file names, jobs started once their remote inputs have ended. Only the BullMQ job object
// of the handler's context is hand-made. Failures: fetch.handler.failures.int-spec.ts.
import { randomUUID } from 'node:crypto';
import { data, dataSha, hits, local } from './testing/remote-server';
import {
  context,
  handler,
  objectsUnder,
  prisma,
  producer,
  seed,
  sha256Of,
  store,
  useFetchServices,
} from './testing/fetch-services';

jest.setTimeout(30_000);
useFetchServices();

describe('FetchHandler: successful downloads', () => {
  it('streams 3 MiB into storage, marks the input ready and starts the job', async () => {
    const { jobId, inputIds, conversionId } = await seed([local('/file.bin')]);
    const outcome = await handler().handle({ jobId, inputId: inputIds[0] }, context());
    expect(outcome).toMatchObject({ status: 'success' });

    const input = await prisma.input.findUniqueOrThrow({ where: { id: inputIds[0] } });
    const key = `inputs/${jobId}/${inputIds[0]}/file.bin`;
    expect(input).toMatchObject({
      status: 'ready',
      filename: 'file.bin',
      size: BigInt(data.length),
      contentType: 'application/octet-stream',
      checksumSha256: dataSha,
      objectKey: key,
      error: null,
    });
    expect(input.readyAt).toBeInstanceOf(Date);
    expect(await sha256Of(key)).toBe(dataSha);
    expect((await store.stat(key))?.size).toBe(data.length);

    const job = await prisma.job.findUniqueOrThrow({ where: { id: jobId }, include: { outputs: true } });
    expect(job.status).toBe('queued');
    expect(job.startedAt).toBeInstanceOf(Date);
    expect(job.outputs).toEqual([expect.objectContaining({ inputId: inputIds[0], conversionId, status: 'queued' })]);
    const finalize = await producer.queue('finalize').getJob(`finalize.${jobId}`);
    expect(finalize?.data).toEqual({ jobId });
    const convert = await producer.queue('convert').getJob(`convert.${job.outputs[0].id}`);
    expect(convert?.data).toMatchObject({ jobId, inputId: inputIds[0], conversionId });
  });

  it('follows a redirect chain of 2 hops (relative and absolute Location) and names the file from Content-Disposition', async () => {
    const { jobId, inputIds } = await seed([local('/r1')]);
    const before = hits.length;
    const outcome = await handler().handle({ jobId, inputId: inputIds[0] }, context());
    expect(outcome).toMatchObject({ status: 'success', detail: expect.stringContaining('2 redirects') });
    expect(hits.slice(before)).toEqual(['/r1', '/r2', '/named/ignored.bin']);
    const input = await prisma.input.findUniqueOrThrow({ where: { id: inputIds[0] } });
    expect(input).toMatchObject({
      status: 'ready',
      filename: 'clïp one.mp4',
      contentType: 'video/mp4',
      checksumSha256: dataSha,
      size: BigInt(data.length),
    });
    expect(await sha256Of(input.objectKey!)).toBe(dataSha);
  });

  it('names the file after the last URL segment, or keeps the name the client gave', async () => {
    const a = await seed([local('/files/My%20Movie.mov')]);
    await handler().handle({ jobId: a.jobId, inputId: a.inputIds[0] }, context());
    expect(await prisma.input.findUniqueOrThrow({ where: { id: a.inputIds[0] } })).toMatchObject({
      filename: 'My Movie.mov',
      objectKey: `inputs/${a.jobId}/${a.inputIds[0]}/My Movie.mov`,
    });
    const b = await seed([local('/r1')], { filename: '../given\u0007.bin' });
    await handler().handle({ jobId: b.jobId, inputId: b.inputIds[0] }, context());
    expect(await prisma.input.findUniqueOrThrow({ where: { id: b.inputIds[0] } })).toMatchObject({
      status: 'ready',
      filename: 'given.bin',
    });
  });

  it('does not start a process:false job, and skips an input that is already ready', async () => {
    const { jobId, inputIds } = await seed([local('/file.bin')], { process: false });
    expect(await handler().handle({ jobId, inputId: inputIds[0] }, context())).toMatchObject({ status: 'success' });
    expect((await prisma.job.findUniqueOrThrow({ where: { id: jobId } })).status).toBe('incomplete');
    const before = hits.length;
    expect(await handler().handle({ jobId, inputId: inputIds[0] }, context())).toEqual({
      status: 'skipped',
      reason: 'input is already ready',
    });
    expect(hits.length).toBe(before);
  });

  it('skips the input of a canceled job and a missing input', async () => {
    const { jobId, inputIds } = await seed([local('/file.bin')]);
    await prisma.job.update({ where: { id: jobId }, data: { status: 'canceled' } });
    expect(await handler().handle({ jobId, inputId: inputIds[0] }, context())).toEqual({
      status: 'skipped',
      reason: 'job is canceled',
    });
    expect(await handler().handle({ jobId, inputId: randomUUID() }, context())).toMatchObject({ status: 'skipped' });
    expect(await objectsUnder(`inputs/${jobId}/`)).toEqual([]);
  });

  it('starts a job with the inputs that arrived once every remote input has ended', async () => {
    const { jobId, inputIds } = await seed([local('/missing'), local('/file.bin')]);
    expect(await handler().handle({ jobId, inputId: inputIds[0] }, context())).toMatchObject({ status: 'failed' });
    expect((await prisma.job.findUniqueOrThrow({ where: { id: jobId } })).status).toBe('downloading'); // the other is still pending
    expect(await handler().handle({ jobId, inputId: inputIds[1] }, context())).toMatchObject({ status: 'success' });
    const job = await prisma.job.findUniqueOrThrow({ where: { id: jobId }, include: { outputs: true } });
    expect(job.status).toBe('queued');
    expect(job.outputs.map((o) => o.inputId)).toEqual([inputIds[1]]);
  });
});
