// kiln convert: one job (process false) with one upload input per file and one conversion; every
// file through an upload session (direct to S3 when the server offers it, else chunks through the
// gateway); then process, follow, download. Resumable: see state/resume-store.
import type { Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { convertArgs, UsageError, type ConvertArgs, type Invocation } from '../args';
import { ApiError, JobFailedError } from '../api/api-error';
import type { CreateUploadBody, DirectUploadView, JobView, UploadModes } from '../api/types';
import { followJob } from '../events/follow-job';
import { downloadOutputs } from '../output/download-outputs';
import { ResumeStore, resumeKey, stateDir, type FileIdentity, type ResumeEntry } from '../state/resume-store';
import { StaleDirectSession, uploadDirect } from '../upload/direct-upload';
import { sha256OfFile } from '../upload/file-checksum';
import { RateLimiter } from '../upload/rate-limiter';
import { uploadMissing } from '../upload/session-upload';
import { printJson, type CommandContext } from './command-context';
import { printSaved, retryNote } from './download.command';

interface LocalFile extends FileIdentity {
  name: string;
}

/** The saved state no longer matches the server (job or upload gone, expired, refused): start over. */
class StaleResume extends Error {}

async function describeFile(cwd: string, given: string): Promise<LocalFile> {
  const full = path.resolve(cwd, given);
  let s: Stats;
  try {
    s = await stat(full);
  } catch (err: unknown) {
    throw new UsageError(`cannot read ${given}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  if (!s.isFile()) throw new UsageError(`${given} is not a regular file`);
  if (s.size === 0) throw new UsageError(`${given} is empty`);
  return { path: full, size: s.size, mtimeMs: s.mtimeMs, name: path.basename(full) };
}

const FINAL = new Set(['completed', 'failed', 'canceled']);

const MiB = 1024 * 1024;
/** design 14's defaults, for a server that offers direct uploads without their settings. */
const DIRECT_DEFAULTS = {
  part_size: 16 * MiB,
  part_size_min: 5 * MiB,
  max_parts: 10_000,
  form_max: 16 * MiB,
  url_ttl_seconds: 3600,
};

class ConvertRun {
  private readonly store: ResumeStore;
  private readonly key: string;
  /** The job this run continues (undefined: a job this run created). */
  private resumedJobId: string | undefined;
  /** The server's direct-upload settings when it offers direct uploads (asked once per run). */
  private directModes: Promise<UploadModes['direct'] | undefined> | undefined;

  constructor(
    private readonly ctx: CommandContext,
    private readonly args: ConvertArgs,
    private readonly files: LocalFile[],
  ) {
    this.store = new ResumeStore(stateDir(ctx.io.env, ctx.io.home));
    this.key = resumeKey(ctx.api.url, files, args.target, args.options);
  }

  private note(text: string): void {
    this.ctx.progress.note(text);
  }

  async run(): Promise<number> {
    for (let round = 0; ; round++) {
      try {
        return await this.once();
      } catch (err: unknown) {
        // discard() has dropped the saved state and said why; one fresh start.
        if (!(err instanceof StaleResume) || round > 0) throw err;
      }
    }
  }

  private async once(): Promise<number> {
    const { ctx, args } = this;
    let entry = await this.store.get(this.key);
    let job = entry ? await this.resume(entry) : undefined;
    this.resumedJobId = job?.id;
    if (!entry || !job) {
      job = await ctx.api.createJob({
        process: false,
        input: this.files.map((f) => ({ type: 'upload', filename: f.name, size: f.size })),
        conversion: [{ target: args.target, ...(Object.keys(args.options).length ? { options: args.options } : {}) }],
        ...(args.callback ? { callback: args.callback } : {}),
        ...(args.tag ? { tag: args.tag } : {}),
      });
      entry = {
        server: ctx.api.url,
        job_id: job.id,
        job_token: job.token,
        target: args.target,
        files: this.files.map((f, i) => ({ path: f.path, input_id: job!.input[i].id })),
        created_at: new Date().toISOString(),
      };
      await this.store.put(this.key, entry);
    } else {
      this.note(`continuing job ${job.id}`);
    }
    const jobId = job.id;
    try {
      if (!job.process) {
        await this.uploadAll(entry, job);
        job = await ctx.api.startJob(jobId);
        const broken = job.input.filter((i) => i.status === 'failed');
        if (broken.length && broken.length === job.input.length) {
          await this.store.remove(this.key);
          throw new JobFailedError(
            jobId,
            'failed',
            broken.map((i) => ({
              code: 'unprocessable',
              message: `${i.filename ?? i.id}: ${i.error ?? 'upload failed'}`,
              source: 'input',
            })),
          );
        }
      }
      if (!args.wait) {
        await this.store.remove(this.key);
        if (ctx.json) printJson(ctx, { job_id: jobId, status: job.status.code });
        else ctx.io.stdout.write(`${jobId}\n`);
        return 0;
      }
      const final = FINAL.has(job.status.code)
        ? job
        : await followJob(ctx.api, jobId, {
            signal: ctx.io.signal,
            onStatus: (status, progress) => ctx.progress.jobStatus(status, progress),
            onFallback: (reason) => this.note(`${reason}; polling the job instead`),
          });
      ctx.progress.finish();
      if (final.status.code === 'canceled') {
        await this.store.remove(this.key);
        throw new JobFailedError(jobId, 'canceled', final.errors);
      }
      // A failed job may still have outputs (several files, one of them broken): save those too.
      const outputs = final.output.length ? await ctx.api.outputs(jobId) : [];
      const saved = await downloadOutputs(outputs, path.resolve(ctx.io.cwd, args.out ?? '.'), {
        retry: ctx.retry,
        signal: ctx.io.signal,
        onRetry: (what, err, attempt, delay) => this.note(retryNote(what, err, attempt, delay, ctx.retry.attempts)),
      });
      await this.store.remove(this.key);
      if (final.status.code !== 'completed') {
        if (!ctx.json) for (const s of saved) ctx.io.stdout.write(`${s.path}\n`);
        throw new JobFailedError(jobId, final.status.code, final.errors, saved);
      }
      printSaved(ctx, jobId, saved);
      return 0;
    } catch (err: unknown) {
      if (ctx.io.signal.aborted) {
        ctx.progress.finish();
        this.note(`stopped; run the same command again to continue job ${jobId}`);
      }
      throw err;
    }
  }

  /** The saved job if it can be continued; undefined (entry dropped) when it has to start over. */
  private async resume(entry: ResumeEntry): Promise<JobView | undefined> {
    const { api } = this.ctx;
    let job: JobView;
    try {
      job = await api.getJob(entry.job_id);
    } catch (err: unknown) {
      if (err instanceof ApiError && err.status === 404) {
        await this.store.remove(this.key);
        this.note(`the saved job ${entry.job_id} is gone; starting over`);
        return undefined;
      }
      throw err;
    }
    if (job.status.code === 'failed' || job.status.code === 'canceled') {
      await this.store.remove(this.key);
      this.note(`the saved job ${job.id} ${job.status.code}; starting over`);
      return undefined;
    }
    if (
      entry.files.length !== this.files.length ||
      entry.files.some((f, i) => f.path !== this.files[i].path || !job.input.some((inp) => inp.id === f.input_id))
    ) {
      await this.discard(entry, 'the saved job does not match these files');
      return undefined;
    }
    return job;
  }

  /** Drops a saved job that cannot be continued (and cancels it on the server, best effort). */
  private async discard(entry: ResumeEntry, why: string): Promise<void> {
    await this.ctx.api.cancelJob(entry.job_id).catch(() => undefined);
    await this.store.remove(this.key);
    this.note(`${why}; starting over`);
  }

  private async uploadAll(entry: ResumeEntry, job: JobView): Promise<void> {
    const { ctx, args } = this;
    const limiter = args.limitRate ? new RateLimiter(args.limitRate) : undefined;
    for (const [i, file] of this.files.entries()) {
      const saved = entry.files[i];
      let session: DirectUploadView;
      try {
        if (saved.upload_id) {
          // A direct session is read with its direct fields (parts S3 holds, the form); not in the typed client yet.
          session =
            saved.mode === 'direct'
              ? await ctx.api.getUploadSession(saved.upload_id)
              : await ctx.api.getUpload(saved.upload_id);
        } else {
          const checksum = await sha256OfFile(file.path, ctx.io.signal);
          session = await this.createSession({
            filename: file.name,
            size: file.size,
            job_id: job.id,
            input_id: saved.input_id,
            checksum_sha256: checksum,
          });
          saved.upload_id = session.id;
          saved.mode = session.mode === 'direct' ? 'direct' : 'proxied';
          await this.store.put(this.key, entry);
        }
      } catch (err: unknown) {
        // A resumed job whose upload expired, or whose input was claimed by a session we never saved.
        if (err instanceof ApiError && (err.status === 404 || err.status === 409) && this.wasResumed(entry)) {
          await this.discard(entry, `the saved upload of ${file.name} cannot be continued (${err.message})`);
          throw new StaleResume(err.message);
        }
        throw err;
      }
      if (session.status === 'failed' && this.wasResumed(entry)) {
        await this.discard(entry, `the saved upload of ${file.name} failed (${session.error ?? 'unknown reason'})`);
        throw new StaleResume(session.error ?? 'upload failed');
      }
      if (session.status === 'uploading' && session.mode === 'direct') {
        if (args.proxied && this.wasResumed(entry))
          this.note(`continuing the direct upload of ${file.name} (--proxied applies to new uploads)`);
        try {
          session = await uploadDirect(session, {
            api: ctx.api,
            path: file.path,
            name: file.name,
            parallel: args.parallel,
            retry: ctx.retry,
            limiter,
            signal: ctx.io.signal,
            onStart: (stored) =>
              ctx.progress.startUpload(file.size, stored, { index: i + 1, count: this.files.length }),
            onBytes: (n) => ctx.progress.uploadBytes(n),
            onRetry: (what, err, attempt, delay) => this.note(retryNote(what, err, attempt, delay, ctx.retry.attempts)),
          });
        } catch (err: unknown) {
          if (err instanceof StaleDirectSession && this.wasResumed(entry)) {
            ctx.progress.endUpload();
            await this.discard(entry, err.message);
            throw new StaleResume(err.message);
          }
          throw err;
        }
        ctx.progress.endUpload();
      } else if (session.status === 'uploading') {
        ctx.progress.startUpload(file.size, session.received_bytes, { index: i + 1, count: this.files.length });
        session = await uploadMissing(session, {
          api: ctx.api,
          path: file.path,
          chunkSize: args.chunkSize,
          parallel: args.parallel,
          retry: ctx.retry,
          limiter,
          signal: ctx.io.signal,
          onBytes: (n) => ctx.progress.uploadBytes(n),
          onRetry: (range, err, attempt, delay) =>
            this.note(
              retryNote(`bytes ${range.start}-${range.end} of ${file.name}`, err, attempt, delay, ctx.retry.attempts),
            ),
        });
        ctx.progress.endUpload();
      }
      if (session.status === 'failed')
        throw new Error(`the upload of ${file.name} failed: ${session.error ?? 'unknown reason'}`);
    }
  }

  /**
   * A new upload session: direct (bytes straight to S3) when the server offers it and --proxied was
   * not given, else proxied (chunks through the gateway).
   */
  private async createSession(body: CreateUploadBody): Promise<DirectUploadView> {
    const { ctx, args } = this;
    const direct = args.proxied ? undefined : await this.direct();
    if (direct) {
      // --chunk-size is the part size of a multipart transfer (kept within the server's limits); a
      // file the server sends as one form takes no part size.
      const partSize =
        args.chunkSize && body.size > direct.form_max
          ? Math.min(5 * 1024 ** 3, Math.max(direct.part_size_min, args.chunkSize))
          : undefined;
      try {
        return await ctx.api.createDirectUpload({
          ...body,
          mode: 'direct',
          ...(partSize ? { part_size: partSize } : {}),
        });
      } catch (err: unknown) {
        // Direct uploads switched off since the modes were read: the gateway path always works.
        if (!(err instanceof ApiError && err.status === 400 && err.details.some((d) => d.field === 'mode'))) throw err;
        this.directModes = Promise.resolve(undefined);
      }
    }
    return ctx.api.createUpload(body);
  }

  /** The server's direct-upload settings if it offers direct uploads (`GET /v1/uploads/modes`, once per run). */
  private direct(): Promise<UploadModes['direct'] | undefined> {
    this.directModes ??= this.ctx.api.uploadModes().then(
      (m) => (m.modes?.includes('direct') ? (m.direct ?? DIRECT_DEFAULTS) : undefined),
      (err: unknown) => {
        // An older server has no such route (404, or 400 reading "modes" as an upload id).
        if (err instanceof ApiError && (err.status === 404 || err.status === 400 || err.status === 405))
          return undefined;
        throw err;
      },
    );
    return this.directModes;
  }

  private wasResumed(entry: ResumeEntry): boolean {
    return this.resumedJobId === entry.job_id;
  }
}

export async function convertCommand(ctx: CommandContext, inv: Invocation): Promise<number> {
  const args = convertArgs(inv);
  const files = await Promise.all(args.files.map((f) => describeFile(ctx.io.cwd, f)));
  return new ConvertRun(ctx, args, files).run();
}
