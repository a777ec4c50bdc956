/**
 * What an image's header says (libvips reads only the header: nothing is decoded) and the limits
 * it is held to before any pixel is: pixels and dimensions of a frame (KILN_MAX_PIXELS,
 * KILN_MAX_DIMENSION), the pixels of a whole animation, and the memory its decoded frames take.
 * A 60000×60000 PNG of a few dozen bytes is refused here, from its IHDR, never decoded.
 */
import { stat } from 'node:fs/promises';
import sharp, { type Metadata } from 'sharp';
import { MediaError } from '../../media-error';
import { pictureInfo, type MediaInfo } from '../../media-info';
import { type MediaLimitRefusal, checkPicture, pixelLimitRefusal } from '../../media-limits';
import { formatBytes } from '../../memory-limit';
import { sharpFailure } from './vips-errors';

export interface ImageHeader {
  /** input-kind.ts's names: png, jpeg, webp, gif, tiff, avif (heic for other HEIF). */
  format: string;
  /** One frame (page) as stored, before any EXIF rotation. */
  width: number;
  height: number;
  /** As displayed: EXIF orientations 5–8 swap width and height. */
  displayWidth: number;
  displayHeight: number;
  /** Frames of an animation, pages of a TIFF; 1 for a still. */
  frames: number;
  /** Delay of each frame in ms (animations only). */
  delays: number[];
  channels: number;
  /** Bytes per sample of the decoded pixels (1 for 8-bit, 2 for 16-bit, 4 for float…). */
  sampleBytes: number;
  size_bytes: number;
}

/** libvips band formats (sharp's `depth`) → bytes per sample. */
const SAMPLE_BYTES: Readonly<Record<string, number>> = {
  uchar: 1,
  char: 1,
  ushort: 2,
  short: 2,
  uint: 4,
  int: 4,
  float: 4,
  complex: 8,
  double: 8,
  dpcomplex: 16,
};

/** Input formats whose pages are the frames of an animation. */
export const ANIMATED_INPUTS = new Set(['gif', 'webp']);

/**
 * The decoded-memory ceiling per conversion, in bytes per allowed pixel: the largest frame
 * KILN_MAX_PIXELS allows at 16-bit RGBA (4 channels × 2 bytes), the worst case the config
 * promises to convert. Anything that would decode to more (deeper samples, more bands, frames)
 * is refused before decoding.
 */
export const DECODED_BYTES_PER_PIXEL = 8;

/** Reads the header only; MediaError on anything libvips cannot read. */
export async function readImageHeader(inputPath: string): Promise<ImageHeader> {
  let size: number;
  try {
    size = (await stat(inputPath)).size;
  } catch (err) {
    throw sharpFailure(err, 'reading');
  }
  let m: Metadata;
  try {
    // No pixel limit here: the header's own figures are wanted, to refuse with Kiln's message.
    m = await sharp(inputPath, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw sharpFailure(err, 'reading');
  }
  if (!m.width || !m.height) throw new MediaError('unprocessable', 'the image header declares no width or height');
  return {
    format: formatName(m),
    width: m.width,
    height: m.height,
    displayWidth: m.autoOrient?.width ?? m.width,
    displayHeight: m.autoOrient?.height ?? m.height,
    frames: Math.max(1, m.pages ?? 1),
    delays: m.delay ?? [],
    channels: m.channels,
    sampleBytes: SAMPLE_BYTES[m.depth] ?? 8,
    size_bytes: size,
  };
}

function formatName(m: Metadata): string {
  if (m.format === 'heif') return m.compression === 'av1' ? 'avif' : 'heic';
  return m.format;
}

/** The picture limits of one frame: pixels first (the bomb's usual shape), then each side. */
export function frameRefusal(
  header: Pick<ImageHeader, 'width' | 'height'>,
  limits: { maxPixels: number; maxDimension: number },
): MediaLimitRefusal | null {
  if (header.width * header.height > limits.maxPixels)
    return pixelLimitRefusal(header.width, header.height, limits.maxPixels);
  return checkPicture(header.width, header.height, limits);
}

/**
 * The limits of what a conversion decodes: `frames` of them (all of an animation that stays
 * animated, else 1). The frame's own limits first, then the animation's pixels, then memory.
 */
export function decodeRefusal(
  header: ImageHeader,
  frames: number,
  limits: { maxPixels: number; maxDimension: number },
): MediaLimitRefusal | null {
  const frame = frameRefusal(header, limits);
  if (frame) return frame;
  const pixels = header.width * header.height * frames;
  if (frames > 1 && pixels > limits.maxPixels) {
    return {
      limit: 'pixels',
      message: `pixel limit exceeded: the animation is ${frames} frames of ${header.width}×${header.height} (${megapixels(pixels)} in all); at most ${megapixels(limits.maxPixels)} for all its frames together (KILN_MAX_PIXELS)`,
    };
  }
  const bytes = pixels * header.channels * header.sampleBytes;
  const ceiling = limits.maxPixels * DECODED_BYTES_PER_PIXEL;
  if (bytes > ceiling) {
    return {
      limit: 'memory',
      message: `memory limit exceeded: the picture decodes to ${formatBytes(bytes)} (${header.width}×${header.height} × ${header.channels} channels × ${header.sampleBytes * 8}-bit${frames > 1 ? ` × ${frames} frames` : ''}); at most ${formatBytes(ceiling)} (KILN_MAX_PIXELS at 16-bit RGBA)`,
    };
  }
  return null;
}

export function refusalError(refusal: MediaLimitRefusal): MediaError {
  return new MediaError('unprocessable', refusal.message, undefined, { limit: refusal.limit });
}

/** libvips format → the codec name ffprobe gives the same picture. */
const CODECS: Readonly<Record<string, string>> = { jpeg: 'mjpeg', avif: 'av1', heic: 'hevc' };

/**
 * The probe's answer. An animation is described as the moving picture it is: `duration_s` is the
 * sum of its frame delays and `fps` its average rate, so frames = duration_s × fps (a delay of
 * 10 ms or less counts as 100 ms, as browsers play it). A still has neither.
 */
export function imageMediaInfo(header: ImageHeader): MediaInfo {
  const animated = ANIMATED_INPUTS.has(header.format) && header.frames > 1;
  let ms = 0;
  for (let i = 0; animated && i < header.frames; i++) {
    const delay = header.delays[i] ?? 0;
    ms += delay > 10 ? delay : 100;
  }
  const duration = animated ? ms / 1000 : null;
  return pictureInfo({
    format: header.format,
    size_bytes: header.size_bytes,
    width: header.displayWidth,
    height: header.displayHeight,
    codec: CODECS[header.format] ?? header.format,
    duration_s: duration,
    fps: duration ? Math.round((header.frames / duration) * 1000) / 1000 : null,
  });
}

function megapixels(pixels: number): string {
  return `${(pixels / 1e6).toFixed(1)} MP`;
}
