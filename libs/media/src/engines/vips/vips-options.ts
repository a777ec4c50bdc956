/**
 * What a vips conversion does, read from the target and its options: the output format, the
 * resize box and fit, metadata and rotation, the encoder's settings. The options arrive validated
 * (catalog.ts validateOptions) but without defaults; the target's defaults apply, then the
 * engine's own. Options the catalog does not give this engine (`time`, `page`, `dpi`: another
 * engine's) are ignored. Pure: no libvips, no file system.
 */
import { type ConversionOptions, type TargetSpec, optionsForEngine } from '@kiln/contracts';
import type { AvifOptions, FitEnum, GifOptions, JpegOptions, PngOptions, TiffOptions, WebpOptions } from 'sharp';
import { MediaError } from '../../media-error';

/** The formats this engine writes, by sharp's name. */
export type VipsOutputFormat = 'png' | 'jpeg' | 'webp' | 'avif' | 'tiff' | 'gif';
export type VipsFit = keyof FitEnum;

/** The catalog target → sharp's output format. */
const FORMATS: Readonly<Record<string, VipsOutputFormat>> = {
  png: 'png',
  jpg: 'jpeg',
  webp: 'webp',
  avif: 'avif',
  tiff: 'tiff',
  gif: 'gif',
};

/** Targets that keep every frame of an animated GIF or WebP input; the others take the first frame. */
const ANIMATED_TARGETS = new Set<VipsOutputFormat>(['gif', 'webp']);

const FITS: readonly VipsFit[] = ['cover', 'contain', 'fill', 'inside', 'outside'];

export interface VipsPlan {
  format: VipsOutputFormat;
  /** The resize box; a side left out follows the aspect ratio. Neither: no resize. */
  width: number | null;
  height: number | null;
  /**
   * How the picture fits the box (default `inside`). Smaller pictures are enlarged to the box
   * (sharp's `withoutEnlargement: false`): asking for a width is asking for that width.
   */
  fit: VipsFit;
  /** Drop EXIF, XMP, IPTC and ICC profiles (default); false keeps them (sharp `keepMetadata`). */
  strip: boolean;
  /** Turn the picture upright by its EXIF orientation and drop the tag (default). */
  autoRotate: boolean;
  /** Whether an animated input stays animated in this format. */
  keepsAnimation: boolean;
  /** The encoder's settings for `format`. */
  encoder: PngOptions | JpegOptions | WebpOptions | AvifOptions | TiffOptions | GifOptions;
}

export function planVipsConversion(target: TargetSpec, options: ConversionOptions): VipsPlan {
  const format = FORMATS[target.target];
  if (!format) throw new MediaError('internal', `the vips engine does not make the ${target.target} target`);
  const read = readOptions(target, options);
  const fit = read('fit');
  return {
    format,
    width: numberOr(read('width'), null),
    height: numberOr(read('height'), null),
    fit: FITS.includes(fit as VipsFit) ? (fit as VipsFit) : 'inside',
    strip: booleanOr(read('strip'), true),
    autoRotate: booleanOr(read('auto_rotate'), true),
    keepsAnimation: ANIMATED_TARGETS.has(format),
    encoder: encoderOptions(format, read),
  };
}

type Read = (name: string) => string | number | boolean | undefined;

/** An option's value as given, else the target's default; undefined when this engine does not read it. */
function readOptions(target: TargetSpec, options: ConversionOptions): Read {
  const mine = new Set(optionsForEngine(target, 'vips'));
  return (name) => {
    if (!mine.has(name) || !Object.hasOwn(target.options, name)) return undefined;
    if (Object.hasOwn(options, name)) return options[name];
    return target.options[name].default;
  };
}

function encoderOptions(format: VipsOutputFormat, read: Read): VipsPlan['encoder'] {
  switch (format) {
    case 'jpeg':
      return { quality: numberOr(read('quality'), 85) } satisfies JpegOptions;
    case 'webp':
      return {
        quality: numberOr(read('quality'), 85),
        lossless: booleanOr(read('lossless'), false),
      } satisfies WebpOptions;
    case 'avif':
      return { quality: numberOr(read('quality'), 50), effort: numberOr(read('effort'), 4) } satisfies AvifOptions;
    case 'tiff':
      // Lossless like ffmpeg's TIFF (sharp's own default is JPEG inside the TIFF).
      return { compression: 'deflate', predictor: 'horizontal' } satisfies TiffOptions;
    case 'png':
      return { compressionLevel: 6 } satisfies PngOptions;
    case 'gif':
      return {} satisfies GifOptions;
  }
}

function numberOr<T>(value: unknown, fallback: T): number | T {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}

function booleanOr(value: unknown, fallback: boolean): boolean {
  return typeof value === 'boolean' ? value : fallback;
}
