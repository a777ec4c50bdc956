import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { Transform } from 'node:stream';
import { mkdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { KILN_CONFIG, type KilnConfig } from '@kiln/config';
import {
  findTarget,
  safeFilename,
  type ConversionOptions,
  type ConvertQueueName,
  type EngineName,
  type HandlerOutcome,
  type InputKind,
  type PayloadOf,
} from '@kiln/contracts';
import { PRISMA, type PrismaClient } from '@kiln/database';
import {
  isMediaError,
  outputByteCap,
  type ConversionEngine,
  type EngineResult,
  type InputFacts,
  type MediaLimits,
} from '@kiln/media';
import { LOGGER, KilnMetrics, type Logger } from '@kiln/observability';
import type { HandlerContext, JobHandler } from '@kiln/queue';
import { OBJECT_STORE, objectKeys, type ObjectStore } from '@kiln/storage';
import { CancelSignals } from '@kiln/worker-runtime';
import { JobLifecycle } from '@kiln/workflow';
import { CONVERSION_ENGINES, type EngineRegistry } from '../engines.provider';
import { sweepOfficeResidents } from '../office-residents';
import { makeWorkDir, selfMaker, sweepWorkDirs, touchWorkDir } from '../work-dirs';
import { infrastructureCause, infrastructureFailureMessage } from './infrastructure-failure';
import { heartbeatPeriodMs, stopReason, UnitWatch } from './unit-watch';
import { RECORD_PATIENCE_MS, recordPatiently } from './record-patiently';

const PROGRESS_EVERY_MS = 1_000;

/** One file of an output as stored (the output row's `files`, for an output of several). */
interface StoredFile {
  name: string;
  key: string;
  size: number;
  content_type: string;
  sha256: string;
}

interface UnitRow {
  status: string;
  job_status: string;
  target: string;
  options: unknown;
  input_id: string;
  kind: string | null;
  format: string | null;
  object_key: string | null;
  checksum_sha256: string | null;
  has_media: boolean;
  filename: string | null;
}

/** What a conversion reads of its unit (ConvertHandler.loadUnit). */
interface UnitToConvert {
  status: string;
  job: { status: string };
  conversion: { target: string; options: unknown };
  input: {
    id: string;
    kind: string | null;
    format: string | null;
    objectKey: string | null;
    checksumSha256: string | null;
    /** Whether the input's media facts are stored already. */
    media: boolean;
    filename: string | null;
  };
}

/** The scratch-folder sweep at start, shared by the engine handlers of this process. */
let workDirSweep: Promise<void> | undefined;

const what = (engine: EngineName): string =>
  engine === 'office' ? 'document' : engine === 'vips' ? 'image' : 'media file';

/**
 * One input × one conversion: download, probe, convert with the unit's engine (engine port,
 * libs/media/src/engines), upload every file it made, record them. Throughout, a heartbeat
 * (unit-watch.ts) keeps the claim fresh and stops the unit when PostgreSQL says the job is being
 * canceled or another attempt holds it. One subclass per engine queue (see the end of this file).
 */
@Injectable()
export abstract class EngineConvertHandler
  implements JobHandler<ConvertQueueName>, OnApplicationBootstrap, OnApplicationShutdown
{
  abstract readonly queue: ConvertQueueName;
  protected abstract readonly engineName: EngineName;
  /** This process, as its scratch folders' names record it (work-dirs.ts). */
  protected readonly maker = selfMaker();

  constructor(
    @Inject(CONVERSION_ENGINES) private readonly engines: EngineRegistry,
    @Inject(PRISMA) private readonly prisma: PrismaClient,
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
    @Inject(KILN_CONFIG) private readonly config: KilnConfig,
    @Inject(LOGGER) protected readonly log: Logger,
    private readonly lifecycle: JobLifecycle,
    private readonly cancels: CancelSignals,
    @Inject(KilnMetrics) private readonly metrics: KilnMetrics,
  ) {}

  private get engine(): ConversionEngine {
    const engine = this.engines.get(this.engineName);
    if (!engine) throw new Error(`engine ${this.engineName} is not enabled in this converter`);
    return engine;
  }

  protected get tmpRoot(): string {
    return this.config.KILN_TMP_DIR || os.tmpdir();
  }

  /** At start: the scratch folders of converters that are gone (killed mid-unit) are removed. */
  async onApplicationBootstrap(): Promise<void> {
    // One sweep per process, whichever engine handlers it runs.
    workDirSweep ??= this.sweepWorkDirs();
    await workDirSweep;
  }

  private async sweepWorkDirs(): Promise<void> {
    const grace = this.config.KILN_RECONCILE_GRACE_MS;
    const removed = await sweepWorkDirs(this.tmpRoot, {
      self: this.maker,
      // A live converter touches its folder on every heartbeat; one silent this long has lost its unit too.
      staleAfterMs: Math.max(60_000, 2 * grace),
      legacyAfterMs: 2 * this.config.KILN_CONVERSION_TIMEOUT_SECONDS * 1000,
    }).catch((err: unknown) => {
      this.log.warn({ dir: this.tmpRoot, err: String(err) }, 'temp dir sweep failed');
      return [];
    });
    if (removed.length)
      this.log.info({ dir: this.tmpRoot, removed }, 'removed temp dirs left by converters that are gone');
  }

  /** A resident engine (a warm LibreOffice) stops with the process. */
  async onApplicationShutdown(): Promise<void> {
    await this.engines.get(this.engineName)?.close?.();
  }

  /** The unit, timed into kiln_conversion_duration_seconds{target, outcome}. */
  async handle(unit: PayloadOf<'convert'>, ctx: HandlerContext): Promise<HandlerOutcome> {
    const labels = { target: 'unknown' };
    const end = this.metrics.conversionDuration.startTimer();
    try {
      const outcome = await this.convert(unit, ctx, labels);
      end({ ...labels, outcome: outcome.status });
      return outcome;
    } catch (err: unknown) {
      end({ ...labels, outcome: 'error' });
      throw err;
    }
  }

  private async convert(
    unit: PayloadOf<'convert'>,
    ctx: HandlerContext,
    labels: { target: string },
  ): Promise<HandlerOutcome> {
    const { jobId, outputId } = unit;
    const output = await this.loadUnit(outputId);
    if (!output) return { status: 'skipped', reason: 'the unit no longer exists' };
    if (output.job.status === 'canceled' || output.job.status === 'canceling' || output.status === 'canceled')
      return { status: 'skipped', reason: 'job canceled' };
    if (output.status === 'completed' || output.status === 'failed')
      return { status: 'skipped', reason: `unit already ${output.status}` };
    const { input, conversion } = output;
    const target = findTarget(conversion.target);
    if (!target) return this.fail(unit, 'invalid_input', `unknown target ${conversion.target}`);
    labels.target = target.target; // a catalog name: a bounded label
    // An impossible pair (a spreadsheet → mp3) is known from the input's bytes: refused without a claim.
    if (input.kind && !(target.accepts as readonly string[]).includes(input.kind))
      return this.fail(
        unit,
        'unsupported_media_type',
        `the input is ${article(input.kind)} (${input.format}); ${target.target} is made from ${target.accepts.join(', ')}`,
      );
    if (!input.objectKey) return this.fail(unit, 'unprocessable', 'the input has no stored file');

    // The claim fences this attempt: if the queue lock is lost (e.g. a partition) and another
    // converter takes the unit over, nothing this attempt records afterwards is kept.
    const claim = await this.lifecycle.markUnitStarted(jobId, outputId);
    if (!claim) return { status: 'skipped', reason: 'the unit is no longer claimable (ended or canceled)' };
    const { lease } = claim;
    let dir: string | undefined; // made inside the try: a full disk there is a failure of this attempt too
    let removal: Promise<void> | undefined; // of `dir`, once its files are stored
    const cancel = this.cancels.register(jobId);
    // The durable stop: heartbeats (and progress reports) answered false by PostgreSQL.
    const watch = new UnitWatch({ jobId, outputId, lease }, heartbeatPeriodMs(this.config.KILN_RECONCILE_GRACE_MS), {
      lifecycle: this.lifecycle,
      whyStopped: () => stopReason(this.prisma, jobId),
      onBeat: () => (dir ? touchWorkDir(dir) : undefined),
      log: this.log,
    }).start();
    const signal = AbortSignal.any([ctx.signal, cancel.signal, watch.signal]);
    try {
      // Files of earlier attempts of this unit that were never recorded (the converter crashed, or the
      // database was away, between the upload and the record): no row names them, this claim supersedes
      // them. A first attempt has none (and skips the listing: a small job's time is mostly round trips).
      if (claim.attempt > 1)
        await this.removeUnitFiles(jobId, outputId, (_k, attempt) => attempt < claim.attempt).catch((err: unknown) =>
          this.log.warn({ jobId, outputId, err: String(err) }, 'files of earlier attempts not removed'),
        );
      const workDir = await makeWorkDir(this.tmpRoot, this.maker);
      dir = workDir;
      const inputPath = path.join(workDir, 'input');
      const hash = createHash('sha256');
      await pipeline(
        await this.store.get(input.objectKey),
        new Transform({
          transform(c: Buffer, _e, cb) {
            hash.update(c);
            cb(null, c);
          },
        }),
        createWriteStream(inputPath),
        { signal },
      );
      // Inputs assembled server-side have no checksum yet: the bytes passed through here anyway (stored with the probe below).
      const checksum = input.checksumSha256 ? {} : { checksumSha256: hash.digest('hex') };

      const detected = input.kind ? { kind: input.kind as InputKind, format: input.format ?? '' } : null;
      let facts: InputFacts;
      try {
        facts = await this.engine.probe(inputPath, { timeoutMs: 60_000, signal, detected });
      } catch (err: unknown) {
        // Stopped, or the machine failed (a signal, an I/O error): retried, not blamed on the input.
        if (isMediaError(err) && (err.code === 'canceled' || err.code === 'infrastructure')) throw err;
        if (isMediaError(err) && (err.limit || err.code !== 'unprocessable'))
          return this.fail(unit, err.code, err.message, lease); // a media bomb, named; a format no engine reads
        if (isMediaError(err))
          return this.fail(
            unit,
            'unprocessable',
            `the input is not a readable ${what(this.engine.name)} (${err.message})`,
            lease,
          );
        throw err;
      }
      // Written while the engine works (awaited before the output is recorded, and on a failure).
      const inputFacts =
        !input.media || 'checksumSha256' in checksum
          ? this.prisma.$executeRaw`
              UPDATE inputs SET media = COALESCE(media, ${JSON.stringify(facts)}::jsonb),
                checksum_sha256 = COALESCE(checksum_sha256, ${checksum.checksumSha256 ?? null})
              WHERE id = ${input.id}::uuid`.then(() => undefined)
          : Promise.resolve();
      inputFacts.catch(() => undefined); // its rejection is taken where it is awaited

      const base = path.parse(input.filename ?? 'file').name || 'file';
      const baseName = safeFilename(`${base}.${target.extension}`).slice(0, -(target.extension.length + 1)) || 'file';
      const outputDir = path.join(workDir, 'out');
      await mkdir(outputDir);
      // The claim set progress 0: the first report is worth a write only once the unit has run a while.
      let lastWrite = Date.now();
      const outputCap = outputByteCap(facts.size_bytes, this.mediaLimits());
      let result: EngineResult;
      try {
        result = await this.engine.convert(
          { target, options: conversion.options as ConversionOptions, inputPath, outputDir, baseName, facts },
          {
            timeoutMs: this.config.KILN_CONVERSION_TIMEOUT_SECONDS * 1000,
            maxOutputBytes: outputCap.bytes,
            maxOutputDescription: outputCap.description,
            memoryLimitBytes: this.config.KILN_FFMPEG_MEMORY_LIMIT,
            signal,
            onProgress: (percent: number) => {
              const now = Date.now();
              if (now - lastWrite < PROGRESS_EVERY_MS) return;
              lastWrite = now;
              void this.lifecycle
                .reportProgress(jobId, outputId, percent, lease)
                .then((holds) => watch.answer(holds))
                .catch(() => undefined);
              void ctx.job.updateProgress(Math.floor(percent)).catch(() => undefined);
            },
          },
        );
      } catch (err: unknown) {
        await inputFacts.catch(() => undefined);
        if (isMediaError(err)) {
          if (err.code === 'canceled') throw err; // shutdown (BullMQ hands the unit on) or a stop
          if (err.code === 'infrastructure') {
            // Not the input's fault: thrown, so BullMQ retries the unit (on whichever converter is free).
            this.log.warn(
              { jobId, outputId, attempt: claim.attempt, fault: err.fault, err: err.message, stderr: err.stderrTail },
              `${this.engine.name} failed: an infrastructure failure, the unit is retried`,
            );
            throw err;
          }
          const code = err.code === 'timeout' ? 'unprocessable' : err.code;
          this.log.warn({ jobId, outputId, code: err.code, stderr: err.stderrTail }, `${this.engine.name} failed`);
          return this.fail(unit, code, err.message, lease);
        }
        throw err;
      }

      await inputFacts;
      // Each attempt writes its own keys: an attempt that lost the unit never touches the winner's files.
      const stored = await this.storeFiles(jobId, outputId, claim.attempt, result);
      // The scratch files are stored: removed while the record is written (awaited below, in finally).
      removal = rm(workDir, { recursive: true, force: true });
      removal.catch(() => undefined); // its failure surfaces where it is awaited
      const [first] = stored;
      const key = first.key;
      const filename = first.name;
      const file = {
        objectKey: first.key,
        filename: first.name,
        size: BigInt(first.size),
        contentType: first.content_type,
        checksumSha256: first.sha256,
        files: stored.length > 1 ? stored : undefined,
      };
      // The conversion is done and stored: a database outage now must not throw the work away.
      const won = await recordPatiently(
        () => this.lifecycle.completeUnit(jobId, outputId, lease, file),
        RECORD_PATIENCE_MS,
        (err) => this.log.warn({ jobId, outputId, err: String(err) }, 'output not recorded yet; retrying'),
        signal,
      );
      if (!won) {
        for (const f of stored) await this.store.remove(f.key);
        const job = await this.prisma.job.findUnique({ where: { id: jobId }, select: { status: true } });
        if (!job || job.status === 'canceled' || job.status === 'canceling')
          return { status: 'skipped', reason: 'job canceled during conversion' };
        // Its queue lock expired (e.g. a partition) and another converter claimed the unit since.
        this.log.warn(
          { jobId, outputId, attempt: claim.attempt, key },
          'conversion not recorded: the unit was claimed again by a later attempt; its file was removed',
        );
        return {
          status: 'skipped',
          reason: `attempt ${claim.attempt} lost the unit to a later claim; its file was removed`,
        };
      }
      // Recorded: no other attempt's file of this unit can be recorded any more (an attempt that
      // stored its file but could not record it, e.g. during a database cut, left it behind). A first
      // attempt that won has no other: a later claim would have taken its lease.
      const mine = new Set(stored.map((f) => f.key));
      if (claim.attempt > 1)
        await this.removeUnitFiles(jobId, outputId, (k) => !mine.has(k)).catch((err: unknown) =>
          this.log.warn({ jobId, outputId, err: String(err) }, 'files of other attempts not removed'),
        );
      const files = stored.length > 1 ? `, ${stored.length} files` : '';
      return { status: 'success', detail: `${filename} (${first.size} bytes${files})` };
    } catch (err: unknown) {
      if (cancel.signal.aborted) return { status: 'skipped', reason: 'job canceled during conversion' };
      if (watch.stopped) return { status: 'skipped', reason: watch.reason! };
      if (ctx.isLastAttempt && !(isMediaError(err) && err.code === 'canceled')) {
        const cause = infrastructureCause(err);
        const message = cause
          ? infrastructureFailureMessage(cause, claim.attempt)
          : `conversion failed: ${err instanceof Error ? err.message : String(err)}`;
        await this.lifecycle.failUnit(jobId, outputId, 'internal', message, lease);
      }
      throw err;
    } finally {
      watch.dispose();
      cancel.release();
      if (dir) await (removal ?? rm(dir, { recursive: true, force: true }));
    }
  }

  /** The unit with what its conversion needs of its job, input and conversion: one query. */
  private async loadUnit(outputId: string): Promise<UnitToConvert | null> {
    const [row] = await this.prisma.$queryRaw<UnitRow[]>`
      SELECT o.status, j.status AS job_status, c.target, c.options, i.id AS input_id, i.kind, i.format,
        i.object_key, i.checksum_sha256, i.media IS NOT NULL AS has_media, i.filename
      FROM outputs o JOIN jobs j ON j.id = o.job_id JOIN conversions c ON c.id = o.conversion_id
        JOIN inputs i ON i.id = o.input_id
      WHERE o.id = ${outputId}::uuid`;
    if (!row) return null;
    return {
      status: row.status,
      job: { status: row.job_status },
      conversion: { target: row.target, options: row.options },
      input: {
        id: row.input_id,
        kind: row.kind,
        format: row.format,
        objectKey: row.object_key,
        checksumSha256: row.checksum_sha256,
        media: row.has_media,
        filename: row.filename,
      },
    };
  }

  /** Stores every file of a conversion under this attempt's prefix, the first as the output's own name. */
  private async storeFiles(
    jobId: string,
    outputId: string,
    attempt: number,
    result: EngineResult,
  ): Promise<StoredFile[]> {
    const stored: StoredFile[] = [];
    for (const [i, f] of result.files.entries()) {
      const size = (await stat(f.path)).size;
      const key =
        i === 0
          ? objectKeys.output(jobId, outputId, attempt, safeFilename(f.name))
          : objectKeys.outputFile(jobId, outputId, attempt, f.name);
      const put = await this.store.put(key, createReadStream(f.path), { size, contentType: f.contentType });
      stored.push({
        name: i === 0 ? safeFilename(f.name) : f.name,
        key,
        size: put.size,
        content_type: f.contentType,
        sha256: put.sha256,
      });
    }
    return stored;
  }

  /** Removes the objects under this unit's prefix that `doomed` picks (by key and attempt number). */
  private async removeUnitFiles(
    jobId: string,
    outputId: string,
    doomed: (key: string, attempt: number) => boolean,
  ): Promise<void> {
    const prefix = `${objectKeys.jobOutputs(jobId)}${outputId}/`;
    const keys: string[] = [];
    for await (const o of this.store.list(prefix)) {
      const attempt = Number(o.key.slice(prefix.length).split('/')[0]);
      if (Number.isInteger(attempt) && doomed(o.key, attempt)) keys.push(o.key);
    }
    for (const k of keys) await this.store.remove(k);
  }

  private mediaLimits(): MediaLimits {
    const c = this.config;
    return {
      maxPixels: c.KILN_MAX_PIXELS,
      maxDimension: c.KILN_MAX_DIMENSION,
      maxDurationS: c.KILN_MAX_DURATION_SECONDS,
      maxAudioChannels: c.KILN_MAX_AUDIO_CHANNELS,
      maxSampleRate: c.KILN_MAX_SAMPLE_RATE,
      maxOutputBytes: c.KILN_MAX_OUTPUT_SIZE,
      maxOutputRatio: c.KILN_MAX_OUTPUT_RATIO,
      outputRatioFloorBytes: c.KILN_OUTPUT_RATIO_FLOOR,
    };
  }

  /** Records the unit as failed (only while `lease` still holds it, when given). */
  private async fail(
    unit: PayloadOf<'convert'>,
    code: string,
    message: string,
    lease?: string,
  ): Promise<HandlerOutcome> {
    const recorded = await this.lifecycle.failUnit(unit.jobId, unit.outputId, code, message, lease);
    if (!recorded)
      return {
        status: 'skipped',
        reason: `not recorded (${code}: ${message}): the unit has ended or another attempt holds it`,
      };
    return { status: 'failed', code, message };
  }
}

const article = (kind: string): string => (/^[aeiou]/.test(kind) ? `an ${kind}` : `a ${kind}`);

/** ffmpeg's units: audio, video, a frame of a video (the `convert` queue). */
@Injectable()
export class ConvertHandler extends EngineConvertHandler {
  readonly queue = 'convert' as const;
  protected readonly engineName = 'ffmpeg' as const;
}

/** Images through libvips (the `convert-vips` queue). */
@Injectable()
export class VipsConvertHandler extends EngineConvertHandler {
  readonly queue = 'convert-vips' as const;
  protected readonly engineName = 'vips' as const;
}

/** Documents through LibreOffice and PDF pages through poppler (the `convert-office` queue). */
@Injectable()
export class OfficeConvertHandler extends EngineConvertHandler {
  readonly queue = 'convert-office' as const;
  protected readonly engineName = 'office' as const;

  /** At start: LibreOffice residents left by converters that were killed are stopped (office-residents.ts). */
  override async onApplicationBootstrap(): Promise<void> {
    await super.onApplicationBootstrap();
    const swept = await sweepOfficeResidents(this.tmpRoot, this.maker).catch((err: unknown) => {
      this.log.warn({ err: String(err) }, 'LibreOffice resident sweep failed');
      return { killed: [], removed: [] };
    });
    if (swept.killed.length || swept.removed.length)
      this.log.info(swept, 'stopped LibreOffice residents left by converters that are gone');
  }
}
