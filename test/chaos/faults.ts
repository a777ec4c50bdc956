// The faults of a chaos run, each injected into a running stack and healed again. Their durations
// are the outage itself (pacing, not synchronisation); where a fault must hit something specific
// (an ffmpeg running, a chunk on the wire, a job being converted) it waits for that state first.
import type { Client } from 'pg';
import type { RedisServer } from '../redis-server';
import type { S3FaultProxy, S3Request } from '../s3-fault-proxy';
import type { RunningApp, Stack } from '../stack';
import { sleep, waitFor } from '../stack';
import type { TcpProxy } from '../tcp-proxy';
import { ffmpegChildren } from '../processes';
import type { ChaosClient, SubmittedJob } from './client';

export type FaultName =
  | 'redis-kill'
  | 'postgres-cut'
  | 's3-503'
  | 's3-drop'
  | 'converter-kill'
  | 'gateway-kill'
  | 'cancel-interrupted';

export const FAULTS: FaultName[] = [
  'redis-kill',
  'postgres-cut',
  's3-503',
  's3-drop',
  'converter-kill',
  'gateway-kill',
  'cancel-interrupted',
];

export interface Injection {
  fault: FaultName;
  round: number;
  startedAt: number;
  endedAt: number;
  /** What happened, in words (which process, what a cancel answered, …). */
  detail: string;
  /** Jobs this injection aimed at (a cancel's job). */
  targets: string[];
}

export interface ChaosRig {
  stack: Stack;
  redis: RedisServer;
  postgres: TcpProxy;
  s3: S3FaultProxy;
  client: ChaosClient;
  db: Client;
  /** Submits a job meant to be canceled while it converts (a longer video). */
  submitCancelTarget: () => Promise<SubmittedJob>;
}

/** S3 deletions: DeleteObject, DeleteObjects (POST ?delete) and AbortMultipartUpload. */
const deletion = (r: S3Request) => r.method === 'DELETE' || (r.method === 'POST' && r.query.has('delete'));

let spawned = 0;

/** Injects one fault and heals it; resolves when the stack is whole again. */
export async function inject(rig: ChaosRig, fault: FaultName, round: number): Promise<Injection> {
  const startedAt = Date.now();
  const done = (detail: string, targets: string[] = []): Injection => ({
    fault,
    round,
    startedAt,
    endedAt: Date.now(),
    detail,
    targets,
  });
  const { stack, redis, postgres, s3 } = rig;
  switch (fault) {
    case 'redis-kill': {
      await redis.cli('SET', 'chaos:sentinel', String(round));
      await redis.kill(); // SIGKILL; no AOF, no RDB
      await sleep(2_000);
      await redis.start(); // same port, empty
      const empty = (await redis.cli('EXISTS', 'chaos:sentinel')).trim() === '0';
      return done(`SIGKILL, down 2 s, restarted ${empty ? 'empty' : 'NOT EMPTY'}`);
    }
    case 'postgres-cut': {
      await postgres.cut();
      await sleep(6_000);
      await postgres.restore();
      return done('every connection destroyed, new ones refused for 6 s');
    }
    case 's3-503': {
      s3.unavailable({ retryAfterS: 1 });
      await sleep(5_000);
      s3.pass();
      return done('every S3 request answered 503 ServiceUnavailable (Retry-After 1) for 5 s');
    }
    case 's3-drop': {
      s3.fail({ action: 'drop' });
      await sleep(4_000);
      s3.pass();
      return done('every S3 connection dropped without an answer for 4 s');
    }
    case 'converter-kill': {
      const converters = () =>
        stack.apps.filter((a) => a.app === 'converter' && a.child.exitCode === null && a.child.signalCode === null);
      const victim = await waitFor(
        'a converter running ffmpeg',
        async () => converters().find((c) => ffmpegChildren(c.child.pid!).length > 0),
        30_000,
        100,
      ).catch(() => converters()[0]);
      const busy = ffmpegChildren(victim.child.pid!).length > 0;
      victim.child.kill('SIGKILL');
      await victim.exited;
      const next = stack.spawnApp('converter', `converter-r${++spawned}`);
      await stack.waitForLog(next, /ready"/);
      return done(`${victim.name} SIGKILLed ${busy ? 'inside ffmpeg' : '(idle)'}; ${next.name} started`);
    }
    case 'gateway-kill': {
      const base = await waitFor('a chunk on the wire', async () => rig.client.busyWith('chunk'), 20_000, 20).catch(
        () => rig.client.busyWith('upload') ?? stack.gatewayUrls[1] ?? stack.url,
      );
      const victim = gatewayAt(stack, base);
      const what = rig.client.busyWith('chunk') === base ? 'with a chunk on the wire' : 'with no chunk on the wire';
      victim.child.kill('SIGKILL');
      await victim.exited;
      const url = new URL(base);
      stack.spawnApp('api-gateway', `${victim.name.replace(/-r\d+$/, '')}-r${++spawned}`, {
        KILN_PORT: url.port,
        KILN_HOST: url.hostname,
      });
      await stack.waitReady(base);
      return done(`${victim.name} SIGKILLed ${what}; restarted on the same port`);
    }
    case 'cancel-interrupted': {
      const job = await rig.submitCancelTarget();
      await waitFor(
        'the cancel target being converted',
        async () => {
          const { rows } = await rig.db.query("SELECT 1 FROM outputs WHERE job_id = $1 AND status = 'processing'", [
            job.id,
          ]);
          return rows.length > 0;
        },
        60_000,
        100,
      ).catch(() => undefined);
      s3.unavailable({ match: deletion });
      const answered = await rig.client.cancel(job);
      // While deletions keep failing the job stays canceling; the reconciler finishes it once S3 is back.
      await sleep(3_000);
      const { rows } = await rig.db.query<{ status: string }>('SELECT status FROM jobs WHERE id = $1', [job.id]);
      s3.pass();
      return done(`DELETE answered ${answered}; ${rows[0]?.status} 3 s later, then S3 deletions work again`, [job.id]);
    }
  }
}

/** The running gateway serving `base` (gateway-<n> from the stack's start, or its restarts gateway-<n>-r<k>). */
function gatewayAt(stack: Stack, base: string): RunningApp {
  const name = `gateway-${stack.gatewayUrls.indexOf(base) + 1}`;
  const running = stack.apps.filter(
    (a) =>
      a.app === 'api-gateway' &&
      a.child.exitCode === null &&
      a.child.signalCode === null &&
      (a.name === name || a.name.startsWith(`${name}-r`)),
  );
  if (!running.length) throw new Error(`no running gateway serves ${base}`);
  return running[running.length - 1];
}
