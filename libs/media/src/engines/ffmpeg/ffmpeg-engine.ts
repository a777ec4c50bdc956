/**
 * The ffmpeg engine: the port (engine.ts) over this library's probe → media limits → command
 * builder → runner sequence, the one the converter ran inline before the port. It makes every
 * target the catalog gives to ffmpeg: single files (video, audio, a frame, a waveform), HLS (a
 * master playlist with its renditions' playlists and segments) and metadata (ffprobe's answer as
 * JSON, without an ffmpeg run).
 */
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type ConversionOptions, optionsForEngine } from '@kiln/contracts';
import { buildConversion, HLS_MASTER_NAME, PROBE_ONLY_TARGETS, type X264Preset } from '../../command-builder';
import { MediaError } from '../../media-error';
import type { MediaInfo } from '../../media-info';
import { checkMediaLimits, type MediaLimits, outputByteCap } from '../../media-limits';
import { metadataReport } from '../../metadata-report';
import { probe, probeWithRaw } from '../../probe';
import { run } from '../../runner';
import {
  type ConversionEngine,
  type EngineRequest,
  type EngineResult,
  type EngineRunContext,
  type InputFacts,
  isDocumentInfo,
  type ProbeContext,
} from '../engine';
import { emptyDir, hlsFiles, treeSize } from './output-files';

export interface FfmpegEngineOptions {
  /** libx264 preset (KILN_FFMPEG_PRESET). */
  preset: X264Preset;
  /** `-threads` for the encoders (KILN_FFMPEG_THREADS); ffmpeg decides when omitted. */
  threads?: number;
  /** The media-bomb caps (KILN_MAX_*): checked from the probe, and `-max_pixels` for the decoders. */
  limits: MediaLimits;
  /** ffmpeg and ffprobe run under this memory limit (KILN_FFMPEG_MEMORY_LIMIT); a run context's own wins. */
  memoryLimitBytes?: number;
  /** Default `FFMPEG_PATH`, else `ffmpeg` on PATH. */
  ffmpegPath?: string;
  /** Default `ffprobe` on PATH. */
  ffprobePath?: string;
}

export class FfmpegEngine implements ConversionEngine {
  readonly name = 'ffmpeg' as const;

  constructor(private readonly options: FfmpegEngineOptions) {}

  probe(inputPath: string, context: ProbeContext): Promise<InputFacts> {
    return probe(inputPath, {
      timeoutMs: context.timeoutMs,
      maxPixels: this.options.limits.maxPixels,
      memoryLimitBytes: this.options.memoryLimitBytes,
      ffprobePath: this.options.ffprobePath,
      signal: context.signal,
    });
  }

  async convert(request: EngineRequest, context: EngineRunContext): Promise<EngineResult> {
    const { target, facts } = request;
    if (isDocumentInfo(facts)) {
      throw new MediaError('unsupported_media_type', `ffmpeg does not read ${facts.format} documents`);
    }
    if (context.signal.aborted) throw new MediaError('canceled', 'conversion canceled');
    // Options for another engine (fit, strip, page, dpi…) are not ffmpeg's: ignored here.
    const options = ownOptions(request.options, optionsForEngine(target, 'ffmpeg'));
    try {
      if (PROBE_ONLY_TARGETS.has(target.target)) return await this.writeMetadata(request, context);
      return await this.runFfmpeg(request, facts, options, context);
    } catch (err: unknown) {
      await emptyDir(request.outputDir);
      throw err;
    }
  }

  /** probe → limits → builder → runner, as the converter did inline. */
  private async runFfmpeg(
    request: EngineRequest,
    facts: MediaInfo,
    options: ConversionOptions,
    context: EngineRunContext,
  ): Promise<EngineResult> {
    const { target, outputDir, baseName } = request;
    const { limits } = this.options;
    // Media bombs are refused from the probe, before ffmpeg decodes anything.
    const refusal = checkMediaLimits(facts, target, limits, options);
    if (refusal) throw new MediaError('unprocessable', refusal.message, undefined, { limit: refusal.limit });

    const hls = target.target === 'hls';
    const outputPath = join(outputDir, `${baseName}.${target.extension}`);
    const built = buildConversion(
      { target, options, input: facts, inputPath: request.inputPath, outputPath },
      { preset: this.options.preset, threads: this.options.threads, maxPixels: limits.maxPixels },
    );
    if (built.kind === 'unsupported') {
      // invalid_input (an option that does not fit this input) is the input's fault: its message says which.
      throw new MediaError(built.code === 'invalid_input' ? 'unprocessable' : built.code, built.message);
    }

    const cap = this.outputCap(facts, context);
    await run(built.passes, {
      durationS: built.expectedDurationS,
      timeoutMs: context.timeoutMs,
      maxOutputBytes: cap.bytes,
      maxOutputDescription: cap.description,
      memoryLimitBytes: context.memoryLimitBytes ?? this.options.memoryLimitBytes,
      // HLS: ffmpeg writes the master playlist last, and the cap counts every playlist and segment.
      outputPath: hls ? join(outputDir, HLS_MASTER_NAME) : outputPath,
      outputBytes: hls ? () => treeSize(outputDir) : undefined,
      ffmpegPath: this.options.ffmpegPath,
      signal: context.signal,
      onProgress: context.onProgress,
    });
    if (!hls)
      return {
        files: [{ path: outputPath, name: `${baseName}.${target.extension}`, contentType: target.content_type }],
      };

    const masterName = `${baseName}.${target.extension}`;
    if (masterName !== HLS_MASTER_NAME) await rename(join(outputDir, HLS_MASTER_NAME), join(outputDir, masterName));
    return { files: await hlsFiles(outputDir, masterName, target.content_type) };
  }

  /** One ffprobe run → `<baseName>.json`: the MediaInfo, the container's tags and every stream. */
  private async writeMetadata(request: EngineRequest, context: EngineRunContext): Promise<EngineResult> {
    const { target, outputDir, baseName } = request;
    context.onProgress?.(0);
    const { info, raw } = await probeWithRaw(request.inputPath, {
      timeoutMs: context.timeoutMs,
      maxPixels: this.options.limits.maxPixels,
      memoryLimitBytes: context.memoryLimitBytes ?? this.options.memoryLimitBytes,
      ffprobePath: this.options.ffprobePath,
      signal: context.signal,
    });
    const name = `${baseName}.${target.extension}`;
    const path = join(outputDir, name);
    const json = `${JSON.stringify(metadataReport(info, raw), null, 2)}\n`;
    const cap = this.outputCap(info, context);
    if (Buffer.byteLength(json) > cap.bytes) {
      throw new MediaError(
        'payload_too_large',
        `output size limit exceeded: the output grew past ${cap.description}`,
        undefined,
        {
          limit: 'output_size',
        },
      );
    }
    if (context.signal.aborted) throw new MediaError('canceled', 'conversion canceled');
    await writeFile(path, json);
    context.onProgress?.(100);
    return { files: [{ path, name, contentType: target.content_type }] };
  }

  /** The input's allowance (outputByteCap), or the caller's cap when that is smaller. */
  private outputCap(facts: MediaInfo, context: EngineRunContext): { bytes: number; description: string } {
    const own = outputByteCap(facts.size_bytes, this.options.limits);
    if (context.maxOutputBytes !== undefined && context.maxOutputBytes < own.bytes) {
      return {
        bytes: context.maxOutputBytes,
        description: context.maxOutputDescription ?? `${context.maxOutputBytes} bytes`,
      };
    }
    return own;
  }
}

function ownOptions(given: ConversionOptions, names: readonly string[]): ConversionOptions {
  return Object.fromEntries(Object.entries(given).filter(([name]) => names.includes(name)));
}
