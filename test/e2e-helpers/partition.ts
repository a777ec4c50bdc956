// The many-hosts stack of the partition e2e tests: the gateway, the assembler and two converters
// each on a test host of their own (network namespaces), PostgreSQL, S3, Redis and the callback
// receiver reached through TCP proxies on the bridge, one Redis proxy per host; and the checks
// that every job across a partition ended exactly once.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { createPrismaClient, type PrismaClient } from '../../libs/database/src/prisma';
import { adminUrl } from '../../libs/database/src/testing/test-database';
import { makeAudio, makeTempDir, makeVideo } from '../../libs/media/src/testing';
import { MinioObjectStore } from '../../libs/storage/src/minio-object-store';
import { CallbackReceiver } from '../callback-receiver';
import { TestNetwork } from '../netns';
import { Stack, json, waitFor } from '../stack';
import { TcpProxy } from '../tcp-proxy';
import { problems } from './app-logs';
import { ENDED, submitJob } from './jobs';

export const HOSTS = ['gateway', 'assembler', 'converter-1', 'converter-2'] as const;
export type HostName = (typeof HOSTS)[number];
const hostOf = (appName: string): HostName =>
  appName.startsWith('gateway') ? 'gateway' : appName.startsWith('assembler') ? 'assembler' : (appName as HostName);
/** A converter whose lock is not renewed loses its unit after this long (config minimum: 2). */
export const LOCK_SECONDS = 4;

export class PartitionStack {
  network: TestNetwork | undefined;
  readonly proxies: TcpProxy[] = [];
  readonly redisProxy = new Map<HostName, TcpProxy>();
  readonly stack = new Stack();
  readonly receiver = new CallbackReceiver();
  callbackUrl = '';
  prisma!: PrismaClient;
  store!: MinioObjectStore;
  redis!: Redis;
  tmp: { dir: string; remove: () => Promise<void> } | undefined;
  video!: Buffer;
  wav!: Buffer;
  /** Every job submitted across a partition, to be checked for ending exactly once. */
  readonly acrossPartitions: string[] = [];

  async start(): Promise<void> {
    this.network = await TestNetwork.create([...HOSTS]);
    const bind = this.network.bridgeAddress;
    const proxy = async (upstream: { host: string; port: number }) => {
      const p = await new TcpProxy(upstream, { bind }).start();
      this.proxies.push(p);
      return p;
    };
    const pg = new URL(adminUrl());
    const pgProxy = await proxy({ host: pg.hostname, port: Number(pg.port || 5432) });
    const s3 = new URL(process.env.S3_ENDPOINT ?? 'http://127.0.0.1:7480');
    const s3Proxy = await proxy({ host: s3.hostname, port: Number(s3.port || 80) });
    const redisUrl = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
    for (const h of HOSTS)
      this.redisProxy.set(h, await proxy({ host: redisUrl.hostname, port: Number(redisUrl.port || 6379) }));
    await this.receiver.start();
    const receiverPort = Number(new URL(this.receiver.url).port);
    const receiverProxy = await proxy({ host: '127.0.0.1', port: receiverPort });
    this.callbackUrl = `http://${bind}:${receiverProxy.port}/hook`;

    this.tmp = await makeTempDir('kiln-partition-');
    this.video = await readFile(
      await makeVideo({
        path: path.join(this.tmp.dir, 'long.mp4'),
        seconds: 20,
        width: 1280,
        height: 720,
        audio: true,
      }),
    );
    this.wav = await readFile(
      await makeAudio({ path: path.join(this.tmp.dir, 'tone.wav'), seconds: 1, format: 'wav' }),
    );

    const net = this.network;
    await this.stack.start({
      converters: 2,
      databaseAddress: { host: bind, port: pgProxy.port },
      env: {
        S3_ENDPOINT: `${s3.protocol}//${bind}:${s3Proxy.port}`,
        KILN_CONVERT_LOCK_SECONDS: String(LOCK_SECONDS),
        KILN_FFMPEG_THREADS: '1',
        KILN_FFMPEG_PRESET: 'medium',
      },
      placement: (_app, name) => {
        const host = net.host(hostOf(name));
        return {
          command: host.command,
          host: host.address,
          env: { REDIS_URL: `redis://${bind}:${this.redisProxy.get(hostOf(name))!.port}` },
        };
      },
    });
    this.prisma = createPrismaClient({ url: this.stack.db.url, poolSize: 2 });
    this.store = new MinioObjectStore({
      endpoint: process.env.S3_ENDPOINT!,
      accessKey: this.stack.env.S3_ACCESS_KEY,
      secretKey: this.stack.env.S3_SECRET_KEY,
      bucket: this.stack.env.S3_BUCKET,
    });
    this.redis = new Redis(redisUrl.toString(), { maxRetriesPerRequest: null });
  }

  async stop(): Promise<void> {
    for (const p of this.proxies) p.thaw();
    await this.stack.stop();
    await this.prisma?.$disconnect();
    this.redis?.disconnect();
    await this.receiver.stop();
    for (const p of this.proxies) await p.stop();
    await this.tmp?.remove();
    if (this.network) {
      await this.network.destroy();
      const left = await this.network.leftovers();
      if (left.length) throw new Error(`test network not removed: ${left.join(', ')}`);
    }
  }

  converters = () => this.stack.apps.filter((a) => a.app === 'converter');

  submit = (file: Buffer, filename: string, conversion: unknown): Promise<string> =>
    submitJob(this.stack, file, filename, conversion, this.callbackUrl);

  ended = async (ids: string[], timeoutMs: number) =>
    waitFor(
      'every job to end',
      async () => {
        const all = await Promise.all(ids.map((id) => json(this.stack.api(`/v1/jobs/${id}`))));
        return all.every((j) => ENDED.includes(j.status.code)) ? all : undefined;
      },
      timeoutMs,
      500,
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\n${problems(this.stack)}`);
    });

  /** Nothing left to run in any queue of this stack: no late finalize or callback can still come. */
  queuesSettled = async (): Promise<void> => {
    const queues = ['convert', 'finalize', 'callback'].map(
      (q) => new Queue(q, { connection: this.redis, prefix: this.stack.env.KILN_QUEUE_PREFIX }),
    );
    try {
      await waitFor(
        'the queues to drain',
        async () => {
          const counts = await Promise.all(
            queues.map((q) => q.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'waiting-children')),
          );
          return counts.every((c) => Object.values(c).every((n) => n === 0));
        },
        60_000,
        250,
      );
    } finally {
      await Promise.all(queues.map((q) => q.close()));
    }
  };

  /**
   * Exactly once: completed; one completed output row after `attempts` claims; its object and nothing
   * else under the job's outputs/; one callback delivery, in the ledger and at the receiver.
   */
  assertEndedOnce = async (id: string, attempts = 1): Promise<void> => {
    const view = await json(this.stack.api(`/v1/jobs/${id}`));
    expect({ id, status: view.status.code, errors: view.errors, outputs: view.output.length }).toEqual({
      id,
      status: 'completed',
      errors: [],
      outputs: 1,
    });
    const rows = await this.prisma.output.findMany({ where: { jobId: id } });
    expect(rows.map((r) => ({ status: r.status, attempt: r.attempt }))).toEqual([
      { status: 'completed', attempt: attempts },
    ]);
    const keys: { key: string; size: number }[] = [];
    for await (const o of this.store.list(`outputs/${id}/`)) keys.push({ key: o.key, size: o.size });
    expect(keys).toEqual([{ key: rows[0].objectKey, size: Number(rows[0].size) }]);
    expect({ id, events: this.receiver.forJob(id).map((c) => c.headers['x-kiln-event']) }).toEqual({
      id,
      events: ['job.completed'],
    });
    const ledger = await this.prisma.callbackDelivery.findMany({ where: { jobId: id } });
    expect(ledger.map((d) => ({ event: d.event, status: d.statusCode }))).toEqual([
      { event: 'job.completed', status: 200 },
    ]);
  };
}

/** Starts the many-hosts stack for the enclosing describe block (stopped and its network removed after it). */
export function usePartitionStack(): PartitionStack {
  const p = new PartitionStack();
  beforeAll(() => p.start());
  afterAll(() => p.stop());
  return p;
}
