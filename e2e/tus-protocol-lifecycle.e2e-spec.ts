// The tus 1.0.0 endpoint in raw HTTP, end to end: expiry, termination, cut-off and concurrent
// PATCHes, job tokens, against two gateway processes, an assembler and a converter; real
// PostgreSQL, Redis, S3 (radosgw) and ffmpeg.
import { Queue } from 'bullmq';
import { sha256OfStream } from '../test/files';
import { openRequest } from '../test/e2e-helpers/raw-http';
import { MiB, OFFSET_STREAM, SMALL, TUS, digest, idOf, metadata, describeTusProtocol } from '../test/e2e-helpers/tus';
import { json, waitFor } from '../test/stack';

jest.setTimeout(240_000);

describeTusProtocol((t, small) => {
  const { stack, create, createUpload, patch, head, offsetOf, assembled, keysUnder } = t;

  it('an expired upload is 410; the maintenance run removes it with its chunks', async () => {
    const location = await createUpload(SMALL, { filename: 'old.bin' });
    expect((await patch(location, 0, small.bytes.subarray(0, MiB))).status).toBe(204);
    const id = idOf(location);
    expect(await keysUnder(`chunks/${id}/`)).toHaveLength(1);
    await t.db.query("UPDATE uploads SET expires_at = now() - interval '1 second' WHERE id = $1", [id]);
    expect((await head(location)).status).toBe(410);
    expect((await patch(location, MiB, small.bytes.subarray(MiB, 2 * MiB))).status).toBe(410);

    const q = new Queue('maintenance', { connection: t.redis, prefix: stack.env.KILN_QUEUE_PREFIX });
    try {
      const job = await q.add('maintenance', { task: 'expire-uploads' }, { jobId: `tus-expire-${Date.now()}` });
      await waitFor('maintenance run', async () => (await q.getJob(job.id!))?.finishedOn);
    } finally {
      await q.close();
    }
    expect((await head(location)).status).toBe(404);
    expect(await keysUnder(`chunks/${id}/`)).toEqual([]);
  });

  it('DELETE terminates: 204, then 404 and the chunk objects gone', async () => {
    const location = await createUpload(SMALL, { filename: 'gone.bin' });
    expect((await patch(location, 0, small.bytes.subarray(0, MiB))).status).toBe(204);
    const id = idOf(location);
    expect(await keysUnder(`chunks/${id}/`)).toHaveLength(1);
    const del = await stack.api(new URL(location).pathname, {
      base: stack.gatewayUrls[1],
      method: 'DELETE',
      headers: TUS,
    });
    expect(del.status).toBe(204);
    expect(del.headers.get('tus-resumable')).toBe('1.0.0');
    expect((await head(location)).status).toBe(404);
    expect((await patch(location, MiB, small.bytes.subarray(MiB, 2 * MiB))).status).toBe(404);
    expect((await stack.api(`/v1/uploads/${id}`)).status).toBe(404);
    expect(await keysUnder(`chunks/${id}/`)).toEqual([]);

    // The job an upload created (metadata target) ends with it; POST + X-HTTP-Method-Override works too.
    const withJob = await create({
      'Upload-Length': String(SMALL),
      'Upload-Metadata': metadata({ filename: 'gone.wav', target: 'mp3' }),
    });
    const jobId = withJob.headers.get('kiln-job-id')!;
    expect((await json(stack.api(`/v1/jobs/${jobId}`))).status.code).toBe('incomplete');
    const overridden = await stack.api(new URL(withJob.headers.get('location')!).pathname, {
      method: 'POST',
      headers: { ...TUS, 'X-HTTP-Method-Override': 'DELETE' },
    });
    expect(overridden.status).toBe(204);
    expect((await json(stack.api(`/v1/jobs/${jobId}`))).status.code).toBe('canceled');
  });

  it('a PATCH cut off mid-body keeps the bytes that arrived; with Upload-Checksum it keeps none', async () => {
    const location = await createUpload(SMALL, { filename: 'cut.bin' });
    const cut = openRequest(location, 'PATCH', {
      ...TUS,
      'X-Api-Key': stack.apiKey,
      'Content-Type': OFFSET_STREAM,
      'Upload-Offset': '0',
      'Content-Length': SMALL,
    });
    const sent = 768 * 1024 + 13;
    await new Promise((resolve) => cut.req.write(small.bytes.subarray(0, sent), resolve));
    cut.req.destroy();
    // Every byte written before the break-off reaches the server, which records them.
    await waitFor('the cut-off bytes recorded', async () => (await offsetOf(location)) === sent, 30_000);
    const rest = await patch(location, sent, small.bytes.subarray(sent));
    expect(rest.status).toBe(204);
    await assembled(idOf(location));
    expect(await sha256OfStream(await t.store.get(await t.storedKey(idOf(location))))).toBe(small.sha());

    const checked = await createUpload(SMALL, { filename: 'cut-sum.bin' });
    const cut2 = openRequest(checked, 'PATCH', {
      ...TUS,
      'X-Api-Key': stack.apiKey,
      'Content-Type': OFFSET_STREAM,
      'Upload-Offset': '0',
      'Content-Length': SMALL,
      'Upload-Checksum': `sha256 ${digest('sha256', small.bytes)}`,
    });
    await new Promise((resolve) => cut2.req.write(small.bytes.subarray(0, sent), resolve));
    cut2.req.destroy();
    // The next PATCH at 0 is refused while the broken one still holds the upload (423), then accepted.
    const whole = await waitFor(
      'the upload free again',
      async () => {
        const r = await patch(checked, 0, small.bytes);
        if (r.status === 423) return undefined;
        return r;
      },
      30_000,
    );
    expect(whole.status).toBe(204);
    expect(whole.headers.get('upload-offset')).toBe(String(SMALL));
  });

  it('two gateways PATCH the same upload at once: one writes, the other gets 423 Locked; the data stays intact', async () => {
    const location = await createUpload(SMALL, { filename: 'race.bin' }, stack.gatewayUrls[0]);
    const id = idOf(location);
    const slow = openRequest(location, 'PATCH', {
      ...TUS,
      'X-Api-Key': stack.apiKey,
      'Content-Type': OFFSET_STREAM,
      'Upload-Offset': '0',
      'Content-Length': SMALL,
    });
    slow.req.write(small.bytes.subarray(0, MiB));
    await waitFor(
      'the first PATCH to hold the upload',
      async () => (await t.redis.exists(`${stack.env.KILN_QUEUE_PREFIX}:tus:lock:${id}`)) === 1,
      30_000,
      50,
    );

    const other = await patch(`${stack.gatewayUrls[1]}/v1/tus/${id}`, 0, small.bytes.subarray(0, MiB), {
      'Upload-Checksum': `sha1 ${digest('sha1', small.bytes.subarray(0, MiB))}`,
    });
    expect(other.status).toBe(423);
    expect(other.headers.get('tus-resumable')).toBe('1.0.0');

    slow.req.end(small.bytes.subarray(MiB));
    const answer = await slow.answer;
    expect(answer.status).toBe(204);
    expect(answer.headers['upload-offset']).toBe(String(SMALL));
    // The loser, retrying after HEAD, finds the upload complete.
    expect(await offsetOf(location, stack.gatewayUrls[1])).toBe(SMALL);
    expect((await patch(`${stack.gatewayUrls[1]}/v1/tus/${id}`, 0, small.bytes.subarray(0, MiB))).status).toBe(409);
    await assembled(id);
    expect(await sha256OfStream(await t.store.get(await t.storedKey(id)))).toBe(small.sha());
  });

  it('a job token opens uploads into its own job only (403 for another job), and the upload fills the job’s input', async () => {
    const mk = async () =>
      json(
        stack.api('/v1/jobs', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ process: false, input: [{ type: 'upload' }], conversion: [{ target: 'mp3' }] }),
        }),
      );
    const [job, otherJob] = await Promise.all([mk(), mk()]);
    const asToken = (token: string, headers: Record<string, string>) =>
      create({ ...headers, 'X-Job-Token': token }, { key: null });

    const res = await asToken(job.token, {
      'Upload-Length': String(SMALL),
      'Upload-Metadata': metadata({ filename: 'token.bin', job_id: job.id }),
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('kiln-job-id')).toBe(job.id);
    const location = res.headers.get('location')!;
    const forbidden = await asToken(job.token, {
      'Upload-Length': String(SMALL),
      'Upload-Metadata': metadata({ filename: 'x.bin', job_id: otherJob.id }),
    });
    expect(forbidden.status).toBe(403);
    expect((await json(forbidden)).error.code).toBe('forbidden');
    expect(
      (await asToken(job.token, { 'Upload-Length': '10', 'Upload-Metadata': metadata({ target: 'mp3' }) })).status,
    ).toBe(403);
    // The upload is reachable with its job's token only.
    expect((await head(location, undefined, { 'X-Job-Token': otherJob.token }, null)).status).toBe(403);
    expect((await head(location, undefined, { 'X-Job-Token': job.token }, null)).status).toBe(200);
    const p = await patch(location, 0, small.bytes, { 'X-Job-Token': job.token }, null);
    expect(p.status).toBe(204);
    const input = await waitFor('input ready', async () => {
      const j = await json(stack.api(`/v1/jobs/${job.id}`));
      return j.input[0].status === 'ready' ? j.input[0] : undefined;
    });
    expect(input).toMatchObject({ filename: 'token.bin', size: SMALL });
    expect(await sha256OfStream(await t.store.get(await t.storedKey(idOf(location))))).toBe(small.sha());
  });
});
