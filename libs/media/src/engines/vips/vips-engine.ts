/**
 * The libvips engine (through sharp): PNG, JPEG, WebP, GIF, TIFF and AVIF images to png, jpg,
 * webp, avif, tiff and gif, in the converter's own process — no process to spawn per picture.
 * Every input is judged from its header before a pixel is decoded (vips-header.ts); libvips then
 * reads the file sequentially, holds to the same pixel limit itself, fails on truncated or
 * damaged data, and writes the output file directly (nothing whole in the JS heap).
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { rm, stat } from 'node:fs/promises';
import sharp, { type Sharp } from 'sharp';
import { MediaError } from '../../media-error';
import { RunControl } from '../../run-control';
import type {
  ConversionEngine,
  EngineRequest,
  EngineResult,
  EngineRunContext,
  InputFacts,
  ProbeContext,
} from '../engine';
import { sharpFailure } from './vips-errors';
import {
  ANIMATED_INPUTS,
  decodeRefusal,
  frameRefusal,
  imageMediaInfo,
  readImageHeader,
  refusalError,
} from './vips-header';
import { type VipsPlan, planVipsConversion } from './vips-options';
import { VipsWork } from './vips-run';

export interface VipsEngineOptions {
  /** Pixels of one frame, and of all frames of an animation together (KILN_MAX_PIXELS). */
  maxPixels: number;
  /** Width and height each (KILN_MAX_DIMENSION); default 16384, the config's default. */
  maxDimension?: number;
  /** libvips worker threads per operation (sharp.concurrency); default the cores, at most 2. */
  threads?: number;
  /** How often the output's size is checked against the cap while libvips writes; default 250 ms. */
  sizeCheckIntervalMs?: number;
  /** Called as libvips is handed a conversion, with the output's path (tests, tracing). */
  onWorkStart?: (outputPath: string) => void;
}

/** KILN_MAX_DIMENSION's default (libs/config config.ts). */
export const DEFAULT_MAX_DIMENSION = 16384;

/**
 * libvips' operation cache, for a long-lived converter that never sees the same file twice: a
 * little memory, no open files (an input held open would keep its disk space after deletion).
 */
/** Largest input whose JPEG gets optimised Huffman tables (whole-picture buffers): 8 MP, about 48 MiB. */
const OPTIMISED_JPEG_MAX_PIXELS = 8 * 1024 * 1024;

const CACHE = { memory: 16, files: 0, items: 32 };

/** sharp's own deadline inside libvips (it stops its work there): seconds, at most sharp's 3600. */
const SHARP_TIMEOUT_MAX_S = 3600;

export class VipsEngine implements ConversionEngine {
  readonly name = 'vips' as const;
  private readonly limits: { maxPixels: number; maxDimension: number };
  private readonly work = new VipsWork();
  private readonly sizeCheckIntervalMs: number;
  private readonly onWorkStart?: (outputPath: string) => void;

  constructor(options: VipsEngineOptions) {
    this.limits = { maxPixels: options.maxPixels, maxDimension: options.maxDimension ?? DEFAULT_MAX_DIMENSION };
    this.sizeCheckIntervalMs = options.sizeCheckIntervalMs ?? 250;
    this.onWorkStart = options.onWorkStart;
    // Process-wide libvips settings: this process converts through one engine instance.
    sharp.concurrency(options.threads ?? Math.min(2, availableParallelism()));
    sharp.cache(CACHE);
  }

  async probe(inputPath: string, context: ProbeContext): Promise<InputFacts> {
    if (context.signal?.aborted) throw new MediaError('canceled', 'probe canceled');
    const header = await readImageHeader(inputPath);
    // A frame too large for the limits is refused now; an animation's frames are judged by the
    // conversion, which knows whether it keeps them.
    const refusal = frameRefusal(header, this.limits);
    if (refusal) throw refusalError(refusal);
    return imageMediaInfo(header);
  }

  async convert(request: EngineRequest, context: EngineRunContext): Promise<EngineResult> {
    const { target, inputPath, outputDir, baseName } = request;
    const name = `${baseName}.${target.extension}`;
    const outputPath = join(outputDir, name);
    const control = new RunControl({
      timeoutMs: context.timeoutMs,
      signal: context.signal,
      outputPath,
      maxOutputBytes: context.maxOutputBytes,
      maxOutputDescription: context.maxOutputDescription,
    });
    // RunControl hears an abort that comes later; one that came before is taken here.
    if (context.signal.aborted) control.stop('canceled');
    context.onProgress?.(0);
    try {
      if (control.reason) throw control.error(control.reason);
      const plan = planVipsConversion(target, request.options);
      const header = await readImageHeader(inputPath);
      const animated = plan.keepsAnimation && ANIMATED_INPUTS.has(header.format) && header.frames > 1;
      const refusal = decodeRefusal(header, animated ? header.frames : 1, this.limits);
      if (refusal) throw refusalError(refusal);
      if (control.reason) throw control.error(control.reason); // stopped while the header was read

      const seconds = Math.min(SHARP_TIMEOUT_MAX_S, Math.max(1, Math.ceil(context.timeoutMs / 1000)));
      const pipeline = this.pipeline(inputPath, plan, animated, header.width * header.height).timeout({ seconds });
      const work = pipeline.toFile(outputPath);
      this.onWorkStart?.(outputPath);
      await this.work.run(work, {
        control,
        outputPath,
        maxOutputBytes: context.maxOutputBytes,
        sizeCheckIntervalMs: this.sizeCheckIntervalMs,
      });

      const size = (await stat(outputPath)).size;
      if (size === 0) throw new MediaError('unprocessable', 'libvips wrote an empty output');
      if (context.maxOutputBytes !== undefined && size > context.maxOutputBytes)
        throw control.error('payload_too_large');
      context.onProgress?.(100);
      return { files: [{ path: outputPath, name, contentType: target.content_type }] };
    } catch (err) {
      await rm(outputPath, { force: true });
      if (err instanceof MediaError) throw err;
      if (control.reason) throw control.error(control.reason);
      if (err instanceof Error && /^timeout: \d+% complete/.test(err.message)) throw control.error('timeout');
      throw sharpFailure(err, 'converting');
    } finally {
      control.dispose();
    }
  }

  /** Waits for libvips work whose caller was already answered (a cancel or timeout). */
  async close(): Promise<void> {
    await this.work.drain();
  }

  private pipeline(inputPath: string, plan: VipsPlan, animated: boolean, inputPixels: number): Sharp {
    let image = sharp(inputPath, {
      limitInputPixels: this.limits.maxPixels,
      failOn: 'error',
      sequentialRead: true,
      autoOrient: plan.autoRotate,
      // All frames when the output stays animated, else the first.
      ...(animated ? { animated: true } : { pages: 1 }),
    });
    if (plan.width !== null || plan.height !== null) {
      image = image.resize({
        width: plan.width ?? undefined,
        height: plan.height ?? undefined,
        fit: plan.fit,
        withoutEnlargement: false,
        // `contain` letterboxes with transparency (black in a JPEG, which has no alpha).
        background: { r: 0, g: 0, b: 0, alpha: 0 },
      });
    }
    if (!plan.strip) image = image.keepMetadata();
    // Optimised Huffman tables make libjpeg hold every coefficient of the picture (about 6 bytes a
    // pixel: 286 MiB for 48 MP, measured) instead of streaming it in strips (23 MiB); past
    // OPTIMISED_JPEG_MAX_PIXELS the few percent they save are not worth that memory.
    if (plan.format === 'jpeg' && inputPixels > OPTIMISED_JPEG_MAX_PIXELS)
      return image.jpeg({ ...plan.encoder, optimiseCoding: false });
    return image.toFormat(plan.format, plan.encoder);
  }
}
