import { randomBytes, randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { KILN_CONFIG, type KilnConfig } from '@kiln/config';
import { STOPPED_JOB_STATUSES, KilnError, findTarget, type JobStatus } from '@kiln/contracts';
import { PRISMA, type CallbackDelivery, type PrismaClient } from '@kiln/database';
import { OBJECT_STORE, type ObjectStore } from '@kiln/storage';
import { QueueProducer } from '@kiln/queue';
import {
  JOB_CHILDREN,
  JobCancellation,
  JobLifecycle,
  outputUrlSigner,
  gatewayBaseUrl,
  detectStoredKinds,
  readStoredKind,
  conversionView,
  inputView,
  jobView,
  outputView,
  type JobView,
  type JobWithChildren,
  type OutputUrlSigner,
} from '@kiln/workflow';
import { assertPublicUrlLiteral } from '@kiln/outbound-http';
import { attachUpload } from '@kiln/uploads';
import type { Principal } from '../auth/principal';
import { KeyQuotas } from '../limits/key-quotas.service';
import { parseOrThrow } from '../http/validation';
import { PresetsService } from './presets.service';
import {
  conversionRequest,
  createJobBody,
  inputSpec,
  listJobsQuery,
  patchJobBody,
  type ConversionSpec,
  type InputSpec,
} from './jobs.schemas';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

@Injectable()
export class JobsService {
  constructor(
    @Inject(PRISMA) private readonly prisma: PrismaClient,
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
    @Inject(KILN_CONFIG) private readonly config: KilnConfig,
    private readonly lifecycle: JobLifecycle,
    @Inject(QueueProducer) private readonly producer: QueueProducer,
    private readonly cancellation: JobCancellation,
    private readonly quotas: KeyQuotas,
    private readonly presets: PresetsService,
  ) {}

  /** Signs a download URL for a stored output, never valid past the job's data (see outputUrlSigner). */
  get signOutput(): OutputUrlSigner {
    const { KILN_DOWNLOAD_URL_TTL_SECONDS: ttl, KILN_JOB_RETENTION_SECONDS: retention } = this.config;
    return outputUrlSigner(this.store, ttl, retention, gatewayBaseUrl(this.config));
  }

  async create(principal: Principal, body: unknown): Promise<JobView> {
    const spec = parseOrThrow(createJobBody, body);
    this.guardUrls(spec.input, spec.callback);
    spec.input.forEach((i, n) => {
      this.assertDeclaredSize(i, `input.${n}.size`);
    });
    this.quotas.assertUnits(
      spec.input.length,
      spec.conversion.length,
      spec.input.length > spec.conversion.length ? 'input' : 'conversion',
    );
    // Presets resolve before anything is stored: an unknown one refuses the job with no row written.
    const conversions = await this.presets.resolveAll(principal, spec.conversion, (n) => `conversion.${n}.`);
    // An uploaded file's kind is known from its bytes: an impossible pair is refused before any row.
    const uploaded = spec.input.flatMap((i) => (i.type === 'upload' && i.upload_id ? [i.upload_id] : []));
    if (uploaded.length) await this.refuseImpossiblePairs(await this.uploadKinds(principal, uploaded), conversions);
    const id = randomUUID();
    const inputs = spec.input.map((i, n) => this.inputRow(i, n));
    const job = {
      id,
      ownerKeyHash: principal.ownerKeyHash,
      token: randomBytes(16).toString('hex'),
      process: spec.process,
      callback: spec.callback ?? null,
      notifyStatus: spec.notify_status ?? false,
      tag: spec.tag ?? null,
      ...this.expiry(spec.expires_at),
      inputs: { create: inputs },
      conversions: { create: conversions.map((c, n) => this.conversionRow(c, n)) },
    };
    const attach = spec.input.flatMap((i, n) =>
      i.type === 'upload' && i.upload_id ? [{ input: { id: inputs[n].id, jobId: id }, uploadId: i.upload_id }] : [],
    );
    await this.prisma.$transaction(async (tx) => {
      await this.quotas.admitJob(tx, principal.ownerKeyHash);
      await tx.job.create({ data: job });
      for (const a of attach) await attachUpload(tx, principal, a.input, a.uploadId);
    });
    if (attach.length) await this.lifecycle.startIfReady(id);
    await this.fetchRemote(id, inputs);
    return this.view(await this.loadOwned(principal, id), true);
  }

  async get(principal: Principal, id: string): Promise<JobView> {
    return this.view(await this.loadOwned(principal, id));
  }

  async list(principal: Principal, query: unknown): Promise<{ items: JobView[]; next_cursor: string | null }> {
    const q = parseOrThrow(listJobsQuery, query, 'query');
    let after: { createdAt: Date; id: string } | undefined;
    if (q.cursor) {
      const [ts, id] = Buffer.from(q.cursor, 'base64url').toString('utf8').split('|');
      const createdAt = new Date(ts);
      if (!id || !UUID.test(id) || Number.isNaN(createdAt.getTime())) {
        throw new KilnError('invalid_input', 'Invalid query: cursor: not a cursor from next_cursor', [
          { field: 'cursor', message: 'not a cursor from next_cursor' },
        ]);
      }
      after = { createdAt, id };
    }
    const jobs = await this.prisma.job.findMany({
      where: {
        ownerKeyHash: principal.ownerKeyHash,
        ...(q.status ? { status: q.status } : {}),
        ...(after
          ? { OR: [{ createdAt: { lt: after.createdAt } }, { createdAt: after.createdAt, id: { lt: after.id } }] }
          : {}),
      },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: q.limit + 1,
      include: JOB_CHILDREN,
    });
    const page = jobs.slice(0, q.limit);
    const last = page[page.length - 1];
    return {
      items: await Promise.all(page.map((j) => this.view(j))),
      next_cursor:
        jobs.length > q.limit && last
          ? Buffer.from(`${last.createdAt.toISOString()}|${last.id}`).toString('base64url')
          : null,
    };
  }

  async patch(principal: Principal, id: string, body: unknown): Promise<JobView> {
    const spec = parseOrThrow(patchJobBody, body);
    this.guardUrls([], spec.callback);
    const job = await this.loadOwned(principal, id);
    if (STOPPED_JOB_STATUSES.includes(job.status as JobStatus)) {
      throw new KilnError('conflict', `The job has ended (${job.status}) and cannot be changed.`);
    }
    if (spec.process && !job.process) {
      if (!job.inputs.length || !job.conversions.length) {
        throw new KilnError('conflict', 'The job needs at least one input and one conversion before it can process.', [
          ...(job.inputs.length ? [] : [{ field: 'input', message: 'no input' }]),
          ...(job.conversions.length ? [] : [{ field: 'conversion', message: 'no conversion' }]),
        ]);
      }
    }
    await this.prisma.job.update({
      where: { id },
      data: {
        ...(spec.process ? { process: true } : {}),
        ...(spec.callback !== undefined ? { callback: spec.callback } : {}),
        ...(spec.notify_status !== undefined ? { notifyStatus: spec.notify_status } : {}),
        ...(spec.tag !== undefined ? { tag: spec.tag } : {}),
      },
    });
    if (spec.process) await this.lifecycle.startIfReady(id);
    return this.view(await this.loadOwned(principal, id));
  }

  async addConversion(principal: Principal, id: string, body: unknown) {
    const request = parseOrThrow(conversionRequest, body);
    const job = await this.loadOwned(principal, id);
    this.assertAccepting(job);
    const [spec] = await this.presets.resolveAll(principal, [request], () => '');
    this.quotas.assertUnits(job.inputs.length, job.conversions.length + 1, 'conversion');
    // The ready inputs' kinds, read from their bytes once, refuse a target none of them can become.
    await detectStoredKinds(this.prisma, this.store, id);
    const inputs = await this.prisma.input.findMany({ where: { jobId: id }, select: { kind: true, format: true } });
    await this.refuseImpossiblePairs(inputs, [spec]);
    const row = await this.prisma.conversion.create({
      data: { ...this.conversionRow(spec, job.conversions.length), jobId: id },
    });
    await this.lifecycle.startIfReady(id);
    return conversionView(row, []);
  }

  async listConversions(principal: Principal, id: string) {
    const job = await this.loadOwned(principal, id);
    return job.conversions.map((c) => conversionView(c, job.outputs));
  }

  async addInput(principal: Principal, id: string, body: unknown) {
    const spec = parseOrThrow(inputSpec, body);
    this.guardUrls([spec]);
    this.assertDeclaredSize(spec, 'size');
    const job = await this.loadOwned(principal, id);
    this.assertAccepting(job);
    this.quotas.assertUnits(job.inputs.length + 1, job.conversions.length, 'input');
    const data = { ...this.inputRow(spec, job.inputs.length), jobId: id };
    if (spec.type === 'upload' && spec.upload_id) {
      const uploadId = spec.upload_id;
      const row = await this.prisma.$transaction(async (tx) => {
        await tx.input.create({ data });
        return attachUpload(tx, principal, data, uploadId);
      });
      await this.lifecycle.startIfReady(id);
      return inputView(row);
    }
    const row = await this.prisma.input.create({ data });
    await this.fetchRemote(id, [row]);
    return inputView(row);
  }

  async listInputs(principal: Principal, id: string) {
    return (await this.loadOwned(principal, id)).inputs.map(inputView);
  }

  async listOutputs(principal: Principal, id: string) {
    const job = await this.loadOwned(principal, id);
    const sign = this.signOutput;
    return Promise.all(job.outputs.filter((o) => o.status === 'completed').map((o) => outputView(o, sign, job)));
  }

  async downloadUrl(principal: Principal, id: string, outputId: string): Promise<string> {
    const job = await this.loadOwned(principal, id);
    const output = job.outputs.find((o) => o.id === outputId && o.status === 'completed');
    if (!output) throw new KilnError('not_found', 'No such output in this job.');
    return this.signOutput(output, job);
  }

  async listCallbacks(principal: Principal, id: string) {
    await this.loadOwned(principal, id);
    const rows: CallbackDelivery[] = await this.prisma.callbackDelivery.findMany({
      where: { jobId: id },
      orderBy: [{ at: 'asc' }, { attempt: 'asc' }],
    });
    return rows.map((d) => ({
      id: d.id,
      delivery_id: d.deliveryId,
      event: d.event,
      url: d.url,
      attempt: d.attempt,
      status_code: d.statusCode,
      error: d.error,
      duration_ms: d.durationMs,
      at: d.at.toISOString(),
    }));
  }

  /**
   * Cancels a job that has not ended: it becomes `canceling` at once (converters stop on the Redis
   * message or, failing that, on their next heartbeat), then queued units are removed, stored bytes
   * deleted, and the job is `canceled` with its callback. A step that fails (storage or the queue
   * unreachable) leaves the job `canceling`: a repeated DELETE, or the reconciler, finishes it.
   */
  async cancel(principal: Principal, id: string): Promise<JobView> {
    await this.loadOwned(principal, id);
    await this.cancellation.cancel(id);
    return this.view(await this.loadOwned(principal, id));
  }

  /** The job if this principal may see it; 404 otherwise (other keys must not learn it exists). */
  async loadOwned(principal: Principal, id: string): Promise<JobWithChildren> {
    return owned(principal, await this.lifecycle.load(checkedJobId(principal, id)));
  }

  /** The job row alone, owned by the caller (a request that needs none of its inputs, conversions or outputs). */
  async loadOwnedRow(principal: Principal, id: string): Promise<{ id: string; status: string }> {
    const job = await this.prisma.job.findUnique({
      where: { id: checkedJobId(principal, id) },
      select: { id: true, status: true, ownerKeyHash: true },
    });
    return owned(principal, job);
  }

  assertAccepting(job: { status: string; id: string }): void {
    if (job.status !== 'incomplete' && job.status !== 'downloading') {
      throw new KilnError('job_locked', `The job is ${job.status} and accepts no more inputs or conversions.`);
    }
  }

  private view(job: JobWithChildren, includeToken = false): Promise<JobView> {
    return jobView(job, this.signOutput, { includeToken });
  }

  /**
   * `expires_at` at creation (epoch seconds): 0 keeps the data until the job is deleted by hand; a time
   * in the past is refused; none leaves the expiry to KILN_JOB_RETENTION_SECONDS after the job ends.
   */
  private expiry(expiresAt: number | undefined): { expiresAt?: Date; keepData?: boolean } {
    if (expiresAt === undefined) return {};
    if (expiresAt === 0) return { keepData: true };
    if (expiresAt * 1000 <= Date.now()) {
      throw new KilnError(
        'invalid_input',
        'Invalid body: expires_at: must be in the future (epoch seconds), or 0 to keep',
        [{ field: 'expires_at', message: 'must be in the future, or 0' }],
      );
    }
    return { expiresAt: new Date(expiresAt * 1000) };
  }

  /** A declared upload size over KILN_MAX_FILE_SIZE could never be uploaded: 413, as for the upload itself. */
  private assertDeclaredSize(i: InputSpec, field: string): void {
    const max = this.config.KILN_MAX_FILE_SIZE;
    if (i.type === 'upload' && i.size !== undefined && i.size > max) {
      throw new KilnError('payload_too_large', `The file has ${i.size} bytes; the limit is ${max}.`, [
        { field, message: `at most ${max}` },
      ]);
    }
  }

  /** Request-time refusal of literal private addresses; the fetcher checks every resolved address again. */
  private guardUrls(inputs: InputSpec[], callback?: string): void {
    const allow = this.config.KILN_ALLOW_PRIVATE_URLS;
    inputs.forEach((i, n) => {
      if (i.type === 'remote') assertPublicUrlLiteral(i.source, allow, `input.${n}.source`);
    });
    if (callback) assertPublicUrlLiteral(callback, allow, 'callback');
  }

  /** Remote inputs are fetched by a worker (queue `fetch`), never inside the request. */
  private async fetchRemote(jobId: string, inputs: { id: string; type: string }[]): Promise<void> {
    const remote = inputs.filter((i) => i.type === 'remote');
    if (!remote.length) return;
    await this.lifecycle.markDownloading(jobId);
    for (const i of remote) await this.producer.enqueue('fetch', { jobId, inputId: i.id });
  }

  private inputRow(i: InputSpec, n: number) {
    return {
      id: randomUUID(),
      type: i.type,
      source: i.type === 'remote' ? i.source : 'upload',
      filename: i.filename ?? null,
      size: i.type === 'upload' && i.size !== undefined ? BigInt(i.size) : null,
      createdAt: new Date(Date.now() + n), // keeps the request's order
    };
  }

  /** The detected kinds of a caller's finished uploads (the ones not finished yet have none to check). */
  private async uploadKinds(principal: Principal, uploadIds: string[]) {
    const uploads = await this.prisma.upload.findMany({
      where: {
        id: { in: uploadIds },
        ownerKeyHash: principal.ownerKeyHash,
        status: 'complete',
        objectKey: { not: null },
      },
      select: { objectKey: true, filename: true },
    });
    return Promise.all(
      uploads.map((u) =>
        readStoredKind(this.store, u.objectKey!, u.filename).catch(() => ({ kind: null, format: null })),
      ),
    );
  }

  /** 415 `unsupported_media_type` when an input of a known kind cannot become a requested target (audio → pdf). */
  private async refuseImpossiblePairs(
    inputs: { kind: string | null; format: string | null }[],
    conversions: ConversionSpec[],
  ): Promise<void> {
    for (const [n, c] of conversions.entries()) {
      const target = findTarget(c.target);
      if (!target) continue;
      const wrong = inputs.find((i) => i.kind && !(target.accepts as readonly string[]).includes(i.kind));
      if (wrong)
        throw new KilnError(
          'unsupported_media_type',
          `An input is ${/^[aeiou]/.test(wrong.kind!) ? 'an' : 'a'} ${wrong.kind} (${wrong.format}); ${target.target} is made from ${target.accepts.join(', ')}.`,
          [
            {
              field: conversions.length > 1 ? `conversion.${n}.target` : 'target',
              message: `${target.target} cannot be made from ${wrong.kind}`,
            },
          ],
        );
    }
  }

  private conversionRow(c: ConversionSpec, n: number) {
    const spec = findTarget(c.target)!;
    return {
      id: randomUUID(),
      target: spec.target,
      category: spec.category,
      options: (c.options ?? {}) as object,
      createdAt: new Date(Date.now() + n),
    };
  }
}

/** A job id the caller may ask for: a UUID, and its own job for a job token. */
function checkedJobId(principal: Principal, id: string): string {
  if (!UUID.test(id)) throw new KilnError('not_found', 'No such job.');
  if (principal.kind === 'job-token' && principal.jobId !== id)
    throw new KilnError('forbidden', 'This job token belongs to another job.');
  return id;
}

/** The job when the caller's key owns it; another key's job is not found, as a missing one. */
function owned<T extends { ownerKeyHash: string }>(principal: Principal, job: T | null): T {
  if (!job || job.ownerKeyHash !== principal.ownerKeyHash) throw new KilnError('not_found', 'No such job.');
  return job;
}
