// Many hosts, real partitions. The gateway, the assembler and two converters each run on a test host
// of their own (a network namespace with one veth link to a bridge this test makes; addresses from
// 198.18.0.0/15 on those interfaces only). PostgreSQL, S3 and Redis are reached over that network
// through TCP proxies bound on the bridge address in front of the local services; each host has its
// own Redis proxy, so one host's path to Redis can be partitioned alone. The callback receiver is
// reached the same way. The test itself talks to the gateway at its host's address.
// - A converter's link is cut (packets dropped) while it converts: its queue lock expires, the other
//   converter takes the unit over, and after healing the cut converter records nothing (fencing):
//   one completed output, its object, no orphan object, one callback per job.
// - The gateway's path to Redis is partitioned (a proxy that freezes: no RST, no answer): requests
//   that need the queue answer 503 `unavailable` with Retry-After in bounded time, and the gateway
//   recovers by itself once the path heals.
// Needs root (network namespaces); where they cannot be made the test fails with one line.
import { spawnSync } from 'node:child_process';
import { logLines, problems } from '../test/e2e-helpers/app-logs';
import { HOSTS, LOCK_SECONDS, usePartitionStack } from '../test/e2e-helpers/partition';
import { ffmpegChildren } from '../test/processes';
import { json, type RunningApp, waitFor } from '../test/stack';

jest.setTimeout(330_000);

describe('many hosts: gateway, assembler and two converters on network namespaces', () => {
  const p = usePartitionStack();
  const {
    stack,
    receiver,
    proxies,
    redisProxy,
    acrossPartitions,
    converters,
    submit,
    ended,
    queuesSettled,
    assertEndedOnce,
  } = p;

  it('reaches every service only over the test network', async () => {
    expect(stack.url).toMatch(new RegExp(`^http://${p.network!.host('gateway').address.replace(/\./g, '\\.')}:`));
    expect((await fetch(`${stack.url}/health/ready`)).status).toBe(200);
    // Every host went through its own Redis proxy, and all through the database and S3 proxies.
    for (const p of proxies.slice(0, 2 + HOSTS.length)) expect(p.accepted).toBeGreaterThan(0);
    // A host cannot reach the machine's loopback services directly.
    const probe = spawnSync(
      'ip',
      [
        'netns',
        'exec',
        p.network!.host('converter-1').netns,
        process.execPath,
        '-e',
        "require('net').connect(6379,'127.0.0.1').on('connect',()=>process.exit(0)).on('error',()=>process.exit(3))",
      ],
      { timeout: 10_000 },
    );
    expect(probe.status).toBe(3);
  });

  it('a converter cut off mid-conversion loses its unit to the other; healed, it records no output and sends no callback', async () => {
    const id = await submit(p.video, 'long.mp4', { target: 'mp4', options: { crf: 12 } });
    const { outputId } = await waitFor(
      'the unit to be claimed',
      async () => p.prisma.output.findFirst({ where: { jobId: id, status: 'processing', attempt: 1 } }),
      60_000,
      100,
    ).then((o) => ({ outputId: o.id }));
    const loser = await waitFor(
      'ffmpeg running on one converter',
      async () => converters().find((c) => ffmpegChildren(c.child.pid!).length > 0),
      60_000,
      100,
    );
    const winner = converters().find((c) => c !== loser)!;
    await waitFor(
      'the conversion under way',
      async () => ((await p.prisma.output.findUnique({ where: { id: outputId } }))?.progress ?? 0) >= 3,
      60_000,
      200,
    );

    await p.network!.cut(loser.name);
    const cutAt = Date.now();
    expect(await p.network!.isUp(loser.name)).toBe(false);
    // Jobs submitted during the partition: only the converter still connected can take them.
    for (let i = 0; i < 3; i++) acrossPartitions.push(await submit(p.wav, `tone-${i}.wav`, { target: 'mp3' }));

    // The cut converter's lock expires; the other claims the unit (attempt 2) and converts it.
    const takeover = await waitFor(
      'the other converter to take the unit over',
      async () => {
        const o = await p.prisma.output.findUnique({ where: { id: outputId } });
        return o && o.attempt >= 2 && ffmpegChildren(winner.child.pid!).length > 0 ? o : undefined;
      },
      LOCK_SECONDS * 1000 * 3 + 30_000,
      200,
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\n${problems(stack)}`);
    });
    const takeoverS = (Date.now() - cutAt) / 1000;
    expect(takeover).toMatchObject({ status: 'processing', attempt: 2 });
    const loserStillConverting = ffmpegChildren(loser.child.pid!).length > 0;

    await p.network!.heal(loser.name);
    const healedAt = Date.now();

    // The cut converter comes to the end of its attempt, having recorded nothing: either its first
    // heartbeat after the heal found the unit held by the later attempt and it stopped working
    // (ffmpeg killed, nothing written), or it had already converted and was refused at the end
    // (its lease was no longer the unit's) and removed its own file.
    const loserEnd = await waitFor(
      'the cut converter to end its attempt',
      async () =>
        logLines(loser).find(
          (l) =>
            l.queue === 'convert' &&
            l.outputId === outputId &&
            (l.msg === 'job handled' || l.msg === 'job attempt failed'),
        ),
      150_000,
      250,
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\n--- ${loser.name}\n${loser.output.join('').slice(-4000)}`);
    });
    expect(loserEnd).toMatchObject({ msg: 'job handled', outcome: 'skipped' });
    const refused = logLines(loser).find(
      (l) => l.outputId === outputId && /claimed again by a later attempt/.test(l.msg ?? ''),
    );
    const stopped = logLines(loser).find(
      (l) => l.outputId === outputId && l.msg === 'unit stopped: PostgreSQL says it must',
    );
    const lostUnit = 'lost the unit: it ended or another attempt holds it';
    if (loserEnd.reason === lostUnit) {
      expect({ stopped: stopped?.reason, refused }).toEqual({ stopped: lostUnit, refused: undefined });
    } else {
      expect(refused).toMatchObject({
        jobId: id,
        attempt: 1,
        key: expect.stringMatching(new RegExp(`^outputs/${id}/${outputId}/1/`)),
      });
    }
    const loserEndedHow = refused ? 'was refused at the end' : 'stopped on its first heartbeat';

    const jobs = [id, ...acrossPartitions];
    const finals = await ended(jobs, 120_000);
    for (const f of finals)
      expect({ id: f.id, status: f.status.code, errors: f.errors }).toEqual({
        id: f.id,
        status: 'completed',
        errors: [],
      });
    await waitFor('a callback per job', async () => jobs.every((j) => receiver.forJob(j).length > 0), 60_000);
    await queuesSettled();

    for (const j of jobs) await assertEndedOnce(j, j === id ? 2 : 1);
    const row = await p.prisma.output.findUniqueOrThrow({ where: { id: outputId } });
    expect(row).toMatchObject({
      status: 'completed',
      attempt: 2,
      objectKey: expect.stringMatching(new RegExp(`^outputs/${id}/${outputId}/2/`)),
    });
    // The unit was converted to the end once by the winner; the loser's outcome was a skip.
    const handled = (app: RunningApp) =>
      logLines(app)
        .filter((l) => l.queue === 'convert' && l.outputId === outputId && l.msg === 'job handled')
        .map((l) => l.outcome);
    expect({ winner: handled(winner), loser: handled(loser) }).toEqual({ winner: ['success'], loser: ['skipped'] });
    // The healed converter is back at work: a job after healing completes (whichever converter takes it).
    const after = await submit(p.wav, 'after.wav', { target: 'mp3' });
    expect((await ended([after], 60_000))[0].status.code).toBe('completed');
    acrossPartitions.push(id);
    const since = (t?: string) => (t ? ((Date.parse(t) - healedAt) / 1000).toFixed(1) : '?');
    const winnerEnd = logLines(winner).find(
      (l) => l.queue === 'convert' && l.outputId === outputId && l.msg === 'job handled',
    );
    console.log(
      `converter partition: unit taken over ${takeoverS.toFixed(1)} s after the cut (lock ${LOCK_SECONDS} s); ` +
        `the cut converter was ${loserStillConverting ? 'still converting' : 'done converting'} at the heal and ${loserEndedHow} ${since(loserEnd.time)} s after it; ` +
        `the winner recorded the unit ${since(winnerEnd?.time)} s after the heal; ${jobs.length} jobs across the partition, all completed once`,
    );
  });

  it('the gateway cut off from Redis answers 503 unavailable with Retry-After, then recovers by itself', async () => {
    // A job uploaded without processing: starting it is the request that needs the queue.
    const created = await json(
      stack.api('/v1/jobs', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ process: false, conversion: [{ target: 'mp3' }], callback: p.callbackUrl }),
      }),
    );
    const form = new FormData();
    form.append('file', new Blob([p.wav]), 'later.wav');
    expect((await stack.api(`/v1/jobs/${created.id}/upload`, { method: 'POST', body: form })).status).toBe(201);

    const during = await json(
      stack.api('/v1/jobs', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ conversion: [{ target: 'mp3' }], callback: p.callbackUrl }),
      }),
    );

    const gatewayRedis = redisProxy.get('gateway')!;
    gatewayRedis.freeze();
    const answer = async (p: Promise<Response>) => {
      const started = Date.now();
      const res = await p.catch((err: unknown) => {
        throw new Error(
          `no answer in ${Date.now() - started} ms (${(err as Error).name}): the request hangs\n--- gateway\n${stack.apps[0].output.join('').slice(-3000)}`,
        );
      });
      return {
        status: res.status,
        code: ((await res.json().catch(() => null)) as { error?: { code?: string } } | null)?.error?.code,
        retryAfter: res.headers.get('retry-after'),
        ms: Date.now() - started,
      };
    };
    /** Every request during the partition is bounded: a hang fails the test instead of stalling it. */
    const bounded = () => ({ signal: AbortSignal.timeout(20_000) });
    const uploadDuring = () => {
      const form2 = new FormData();
      form2.append('file', new Blob([p.wav]), 'during.wav');
      return stack.api(`/v1/jobs/${during.id}/upload`, { ...bounded(), method: 'POST', body: form2 });
    };
    const unavailable = {
      status: 503,
      code: 'unavailable',
      retryAfter: expect.stringMatching(/^\d+$/),
      ms: expect.any(Number),
    };
    // All at once, each bounded: starting a job needs the queue, uploading a file needs the key's
    // upload slots; reading a job or creating one may need Redis (per-address and per-key limits)
    // or not: either way they answer, normally or with the same 503.
    const [patch, upload, read, create, ready] = await Promise.all([
      answer(
        stack.api(`/v1/jobs/${created.id}`, {
          ...bounded(),
          method: 'PATCH',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ process: true }),
        }),
      ),
      answer(uploadDuring()),
      answer(stack.api(`/v1/jobs/${created.id}`, bounded())),
      answer(
        stack.api('/v1/jobs', {
          ...bounded(),
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ process: false }),
        }),
      ),
      fetch(`${stack.url}/health/ready`, bounded()).then(async (r) => ({
        status: r.status,
        body: (await r.json()) as { checks: { name: string; ok: boolean }[] },
      })),
    ]);
    expect(patch).toEqual(unavailable);
    expect(upload).toEqual(unavailable);
    const normalOr503 = (a: typeof read, normal: number) =>
      a.status === normal || (a.status === 503 && a.code === 'unavailable' && /^\d+$/.test(a.retryAfter ?? ''));
    expect({ read, ok: normalOr503(read, 200) }).toEqual({ read, ok: true });
    expect({ create, ok: normalOr503(create, 201) }).toEqual({ create, ok: true });
    // Readiness says which dependency is missing.
    expect({ status: ready.status, checks: ready.body.checks.map((c) => [c.name, c.ok]) }).toEqual({
      status: 503,
      checks: [
        ['database', true],
        ['redis', false],
        ['storage', true],
      ],
    });
    // The partition is the gateway's only: the workers still run jobs (one started before the cut).
    expect(gatewayRedis.isFrozen).toBe(true);

    gatewayRedis.thaw();
    await waitFor(
      'the gateway ready again',
      async () => (await fetch(`${stack.url}/health/ready`)).status === 200,
      30_000,
      250,
    );
    // The client retries what answered 503.
    const retried = await answer(
      stack.api(`/v1/jobs/${created.id}`, {
        ...bounded(),
        method: 'PATCH',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ process: true }),
      }),
    );
    if (retried.status !== 200)
      throw new Error(`the retried PATCH answered ${JSON.stringify(retried)}\n${problems(stack)}`);
    expect((await uploadDuring()).status).toBe(201);
    const fresh = await submit(p.wav, 'fresh.wav', { target: 'mp3' });
    const jobs = [created.id, during.id, fresh];
    const finals = await ended(jobs, 60_000);
    if (finals.some((f) => f.status.code !== 'completed'))
      throw new Error(
        `not all completed: ${JSON.stringify(finals.map((f) => [f.id, f.status.code, f.errors]))}\n${problems(stack, 30)}`,
      );
    await waitFor('a callback per job', async () => jobs.every((j) => receiver.forJob(j).length > 0), 60_000);
    await queuesSettled();
    for (const j of jobs) await assertEndedOnce(j);
    acrossPartitions.push(created.id, during.id);
    // The same gateway process throughout.
    expect(stack.apps.every((a) => a.child.exitCode === null)).toBe(true);
    console.log(
      `gateway–Redis partition: PATCH answered ${patch.status} in ${patch.ms} ms, upload ${upload.status} in ${upload.ms} ms, GET ${read.status}, POST /v1/jobs ${create.status}; ${acrossPartitions.length} jobs across both partitions, all ended exactly once`,
    );
  });
});
