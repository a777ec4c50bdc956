/**
 * The conversion catalog: one definition that `GET /v1/formats` serves, the gateway validates
 * against, and the converter executes (libs/media builds ffmpeg arguments from it).
 * Pure data and pure functions: no runtime dependencies.
 */
export type MediaCategory = 'video' | 'audio' | 'image' | 'document' | 'spreadsheet' | 'presentation' | 'data';

/**
 * What an input is, told from its bytes (input-kind.ts), never from its name: `pdf` is a kind of
 * its own because it converts to pages (pdftoppm) as well as being a document target.
 */
export type InputKind = 'video' | 'audio' | 'image' | 'document' | 'spreadsheet' | 'presentation' | 'pdf';
export const INPUT_KINDS: readonly InputKind[] = [
  'video',
  'audio',
  'image',
  'document',
  'spreadsheet',
  'presentation',
  'pdf',
];

/**
 * The programs that convert, each run by converters that declare it (`KILN_CONVERTER_ENGINES`) and
 * fed by its own queue: `ffmpeg` audio and video (and a frame of a video), `vips` images through
 * libvips (sharp), `office` documents through LibreOffice and PDF pages through poppler.
 */
export type EngineName = 'ffmpeg' | 'vips' | 'office';
export const ENGINES: readonly EngineName[] = ['ffmpeg', 'vips', 'office'];

export type OptionSpec =
  | { type: 'integer' | 'number'; min: number; max: number; default?: number; description: string }
  | { type: 'enum'; values: readonly (string | number)[]; default?: string | number; description: string }
  | { type: 'boolean'; default?: boolean; description: string };

export interface TargetSpec {
  target: string;
  category: MediaCategory;
  description: string;
  extension: string;
  content_type: string;
  /** Input kinds this target accepts (the keys of `engines`). */
  accepts: readonly InputKind[];
  /** The engine that makes this target from each kind of input it accepts. */
  engines: Readonly<Partial<Record<InputKind, EngineName>>>;
  options: Readonly<Record<string, OptionSpec>>;
  /** Options that apply only when a given engine converts (e.g. `fit` for images through libvips). */
  options_for?: Readonly<Partial<Record<EngineName, readonly string[]>>>;
}

const width: OptionSpec = {
  type: 'integer',
  min: 16,
  max: 7680,
  description: 'Output width in pixels; the aspect ratio is kept when only one of width/height is given.',
};
const height: OptionSpec = {
  type: 'integer',
  min: 16,
  max: 4320,
  description: 'Output height in pixels; the aspect ratio is kept when only one of width/height is given.',
};
const fps: OptionSpec = { type: 'number', min: 1, max: 120, description: 'Frames per second.' };
const videoBitrate: OptionSpec = {
  type: 'integer',
  min: 64,
  max: 50000,
  description: 'Video bitrate in kbit/s (replaces crf).',
};
const audioBitrate: OptionSpec = { type: 'integer', min: 32, max: 512, description: 'Audio bitrate in kbit/s.' };
const start: OptionSpec = { type: 'number', min: 0, max: 86400, description: 'Trim: start offset in seconds.' };
const duration: OptionSpec = { type: 'number', min: 0.01, max: 86400, description: 'Trim: duration in seconds.' };
const channels: OptionSpec = { type: 'integer', min: 1, max: 8, description: 'Audio channels.' };
const sampleRate: OptionSpec = {
  type: 'enum',
  values: [8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000],
  description: 'Audio sample rate in Hz.',
};
/** libopus encodes only these rates (webm and opus). */
const opusSampleRate: OptionSpec = {
  type: 'enum',
  values: [8000, 12000, 16000, 24000, 48000],
  description: 'Audio sample rate in Hz (Opus supports only these).',
};
/** LAME encodes mono or stereo only. */
const stereoChannels: OptionSpec = {
  type: 'integer',
  min: 1,
  max: 2,
  description: 'Audio channels (MP3: mono or stereo).',
};
const time: OptionSpec = {
  type: 'number',
  min: 0,
  max: 86400,
  default: 0,
  description: 'For a video input: the time offset in seconds of the frame to take.',
};

const videoOptions = (crfMax: number, crfDefault: number) => ({
  width,
  height,
  fps,
  video_bitrate: videoBitrate,
  audio_bitrate: audioBitrate,
  crf: {
    type: 'integer',
    min: 0,
    max: crfMax,
    default: crfDefault,
    description: 'Constant quality: lower is better and larger.',
  } as OptionSpec,
  start,
  duration,
  audio_channels: channels,
  sample_rate: sampleRate,
});
const audioOptions = {
  audio_bitrate: audioBitrate,
  start,
  duration,
  audio_channels: channels,
  sample_rate: sampleRate,
};
const imageQuality: OptionSpec = {
  type: 'integer',
  min: 1,
  max: 100,
  default: 85,
  description: 'Quality 1-100 (lossy formats).',
};

/** Engines per input kind, for the common shapes. */
const FFMPEG_VIDEO = { video: 'ffmpeg' } as const;
const FFMPEG_AUDIO = { audio: 'ffmpeg', video: 'ffmpeg' } as const;
/** A still image: libvips for an image, a frame of a video through ffmpeg, a PDF page through poppler. */
const STILL = { image: 'vips', video: 'ffmpeg', pdf: 'office' } as const;
const OFFICE_DOCUMENT = { document: 'office' } as const;

const fit: OptionSpec = {
  type: 'enum',
  values: ['cover', 'contain', 'fill', 'inside', 'outside'],
  default: 'inside',
  description:
    'Images: how the picture fits width × height (libvips): inside keeps it whole within the box, cover fills and crops, contain letterboxes, fill stretches, outside covers the box.',
};
const strip: OptionSpec = {
  type: 'boolean',
  default: true,
  description: 'Images: drop metadata (EXIF, XMP, ICC profile other than sRGB) from the output.',
};
const autoRotate: OptionSpec = {
  type: 'boolean',
  default: true,
  description: 'Images: turn the picture upright by its EXIF orientation, then drop the tag.',
};
const page: OptionSpec = {
  type: 'integer',
  min: 1,
  max: 100000,
  description: 'PDF input: the page to render (1-based); without it every page becomes a file (up to KILN_MAX_PAGES).',
};
const dpi: OptionSpec = {
  type: 'integer',
  min: 10,
  max: 600,
  default: 150,
  description: 'PDF input: resolution of the rendered page in dots per inch.',
};
/** Options of a still-image target, with the engines each one is for. */
const stillOptions = (extra: Record<string, OptionSpec> = {}) => ({
  width,
  height,
  fit,
  strip,
  auto_rotate: autoRotate,
  time,
  page,
  dpi,
  ...extra,
});
const STILL_OPTIONS_FOR = {
  ffmpeg: ['width', 'height', 'time', 'quality'],
  vips: ['width', 'height', 'fit', 'strip', 'auto_rotate', 'quality', 'lossless', 'effort'],
  office: ['page', 'dpi', 'quality'],
} as const;

export const CATALOG: readonly TargetSpec[] = [
  {
    target: 'mp4',
    category: 'video',
    description: 'MPEG-4 (H.264 + AAC)',
    extension: 'mp4',
    content_type: 'video/mp4',
    accepts: ['video'],
    engines: FFMPEG_VIDEO,
    options: videoOptions(51, 23),
  },
  {
    target: 'webm',
    category: 'video',
    description: 'WebM (VP9 + Opus)',
    extension: 'webm',
    content_type: 'video/webm',
    accepts: ['video'],
    engines: FFMPEG_VIDEO,
    options: { ...videoOptions(63, 32), sample_rate: opusSampleRate },
  },
  {
    target: 'mov',
    category: 'video',
    description: 'QuickTime (H.264 + AAC)',
    extension: 'mov',
    content_type: 'video/quicktime',
    accepts: ['video'],
    engines: FFMPEG_VIDEO,
    options: videoOptions(51, 23),
  },
  {
    target: 'mkv',
    category: 'video',
    description: 'Matroska (H.264 + AAC)',
    extension: 'mkv',
    content_type: 'video/x-matroska',
    accepts: ['video'],
    engines: FFMPEG_VIDEO,
    options: videoOptions(51, 23),
  },
  {
    target: 'hls',
    category: 'video',
    description:
      'HTTP Live Streaming: a master playlist (the output) with 360p and 720p renditions (H.264 + AAC, 6 s MPEG-TS segments) as its files',
    extension: 'm3u8',
    content_type: 'application/vnd.apple.mpegurl',
    accepts: ['video'],
    engines: FFMPEG_VIDEO,
    options: {
      renditions: {
        type: 'enum',
        values: ['360p', '720p', '360p,720p', '360p,720p,1080p'],
        default: '360p,720p',
        description: 'The renditions (heights) in the master playlist; none is taller than the input.',
      },
      segment_duration: { type: 'integer', min: 2, max: 30, default: 6, description: 'Segment length in seconds.' },
      start,
      duration,
    },
  },
  {
    target: 'gif',
    category: 'video',
    description: 'Animated GIF (palette-based; from a video, or an image through libvips, animation kept)',
    extension: 'gif',
    content_type: 'image/gif',
    accepts: ['video', 'image'],
    engines: { video: 'ffmpeg', image: 'vips' },
    options: { width, height, fit, fps: { ...fps, default: 10 } as OptionSpec, start, duration },
    options_for: { ffmpeg: ['width', 'height', 'fps', 'start', 'duration'], vips: ['width', 'height', 'fit'] },
  },
  {
    target: 'mp3',
    category: 'audio',
    description: 'MP3 (LAME)',
    extension: 'mp3',
    content_type: 'audio/mpeg',
    accepts: ['audio', 'video'],
    engines: FFMPEG_AUDIO,
    options: { ...audioOptions, audio_channels: stereoChannels },
  },
  {
    target: 'm4a',
    category: 'audio',
    description: 'MPEG-4 audio (AAC)',
    extension: 'm4a',
    content_type: 'audio/mp4',
    accepts: ['audio', 'video'],
    engines: FFMPEG_AUDIO,
    options: audioOptions,
  },
  {
    target: 'ogg',
    category: 'audio',
    description: 'Ogg Vorbis',
    extension: 'ogg',
    content_type: 'audio/ogg',
    accepts: ['audio', 'video'],
    engines: FFMPEG_AUDIO,
    options: audioOptions,
  },
  {
    target: 'opus',
    category: 'audio',
    description: 'Opus (in Ogg)',
    extension: 'opus',
    content_type: 'audio/ogg',
    accepts: ['audio', 'video'],
    engines: FFMPEG_AUDIO,
    options: { ...audioOptions, sample_rate: opusSampleRate },
  },
  {
    target: 'wav',
    category: 'audio',
    description: 'WAV (PCM 16-bit)',
    extension: 'wav',
    content_type: 'audio/wav',
    accepts: ['audio', 'video'],
    engines: FFMPEG_AUDIO,
    options: { start, duration, audio_channels: channels, sample_rate: sampleRate },
  },
  {
    target: 'flac',
    category: 'audio',
    description: 'FLAC (lossless)',
    extension: 'flac',
    content_type: 'audio/flac',
    accepts: ['audio', 'video'],
    engines: FFMPEG_AUDIO,
    options: { start, duration, audio_channels: channels, sample_rate: sampleRate },
  },
  {
    target: 'waveform',
    category: 'image',
    description: 'Waveform of the audio as a PNG picture',
    extension: 'png',
    content_type: 'image/png',
    accepts: ['audio', 'video'],
    engines: FFMPEG_AUDIO,
    options: {
      width: { ...width, max: 8192, default: 1800 } as OptionSpec,
      height: { ...height, max: 2048, default: 280 } as OptionSpec,
      color: {
        type: 'enum',
        values: ['black', 'white', 'gray', 'blue', 'red', 'green', 'orange'],
        default: 'blue',
        description: 'Colour of the wave (on a transparent background).',
      },
      split_channels: {
        type: 'boolean',
        default: false,
        description: 'Draw each channel in its own band instead of one mix.',
      },
      start,
      duration,
    },
  },
  {
    target: 'metadata',
    category: 'data',
    description: "The input's probe as JSON (format, duration, size, streams, tags), as CloudConvert's metadata task",
    extension: 'json',
    content_type: 'application/json',
    accepts: ['video', 'audio', 'image'],
    engines: { video: 'ffmpeg', audio: 'ffmpeg', image: 'ffmpeg' },
    options: {},
  },
  {
    target: 'png',
    category: 'image',
    description: 'PNG (from an image, a frame of a video, or PDF pages)',
    extension: 'png',
    content_type: 'image/png',
    accepts: ['image', 'video', 'pdf'],
    engines: STILL,
    options: stillOptions(),
    options_for: STILL_OPTIONS_FOR,
  },
  {
    target: 'jpg',
    category: 'image',
    description: 'JPEG (from an image, a frame of a video, or PDF pages)',
    extension: 'jpg',
    content_type: 'image/jpeg',
    accepts: ['image', 'video', 'pdf'],
    engines: STILL,
    options: stillOptions({ quality: imageQuality }),
    options_for: STILL_OPTIONS_FOR,
  },
  {
    target: 'webp',
    category: 'image',
    description: 'WebP (from an image, animation kept, or a frame of a video)',
    extension: 'webp',
    content_type: 'image/webp',
    accepts: ['image', 'video'],
    engines: { image: 'vips', video: 'ffmpeg' },
    options: {
      width,
      height,
      fit,
      strip,
      auto_rotate: autoRotate,
      quality: imageQuality,
      lossless: { type: 'boolean', default: false, description: 'Images: lossless WebP.' },
      time,
    },
    options_for: STILL_OPTIONS_FOR,
  },
  {
    target: 'avif',
    category: 'image',
    description: 'AVIF (AV1 still image, through libvips)',
    extension: 'avif',
    content_type: 'image/avif',
    accepts: ['image'],
    engines: { image: 'vips' },
    options: {
      width,
      height,
      fit,
      strip,
      auto_rotate: autoRotate,
      quality: { ...imageQuality, default: 50 } as OptionSpec,
      effort: { type: 'integer', min: 0, max: 9, default: 4, description: 'CPU effort 0 (fastest) to 9 (smallest).' },
    },
  },
  {
    target: 'bmp',
    category: 'image',
    description: 'BMP',
    extension: 'bmp',
    content_type: 'image/bmp',
    accepts: ['image', 'video'],
    engines: { image: 'ffmpeg', video: 'ffmpeg' },
    options: { width, height, time },
  },
  {
    target: 'tiff',
    category: 'image',
    description: 'TIFF (from an image, or a frame of a video)',
    extension: 'tiff',
    content_type: 'image/tiff',
    accepts: ['image', 'video'],
    engines: { image: 'vips', video: 'ffmpeg' },
    options: { width, height, fit, strip, auto_rotate: autoRotate, time },
    options_for: STILL_OPTIONS_FOR,
  },
  {
    target: 'pdf',
    category: 'document',
    description: 'PDF (from a text document, spreadsheet or presentation, through LibreOffice)',
    extension: 'pdf',
    content_type: 'application/pdf',
    accepts: ['document', 'spreadsheet', 'presentation'],
    engines: { document: 'office', spreadsheet: 'office', presentation: 'office' },
    options: {},
  },
  {
    target: 'docx',
    category: 'document',
    description: 'Word document (Office Open XML)',
    extension: 'docx',
    content_type: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
    accepts: ['document'],
    engines: OFFICE_DOCUMENT,
    options: {},
  },
  {
    target: 'odt',
    category: 'document',
    description: 'OpenDocument text',
    extension: 'odt',
    content_type: 'application/vnd.oasis.opendocument.text',
    accepts: ['document'],
    engines: OFFICE_DOCUMENT,
    options: {},
  },
  {
    target: 'xlsx',
    category: 'spreadsheet',
    description: 'Excel workbook (Office Open XML)',
    extension: 'xlsx',
    content_type: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
    accepts: ['spreadsheet'],
    engines: { spreadsheet: 'office' },
    options: {},
  },
  {
    target: 'ods',
    category: 'spreadsheet',
    description: 'OpenDocument spreadsheet',
    extension: 'ods',
    content_type: 'application/vnd.oasis.opendocument.spreadsheet',
    accepts: ['spreadsheet'],
    engines: { spreadsheet: 'office' },
    options: {},
  },
  {
    target: 'csv',
    category: 'spreadsheet',
    description: 'CSV (UTF-8, comma-separated; the first sheet)',
    extension: 'csv',
    content_type: 'text/csv',
    accepts: ['spreadsheet'],
    engines: { spreadsheet: 'office' },
    options: {},
  },
  {
    target: 'pptx',
    category: 'presentation',
    description: 'PowerPoint presentation (Office Open XML)',
    extension: 'pptx',
    content_type: 'application/vnd.openxmlformats-officedocument.presentationml.presentation',
    accepts: ['presentation'],
    engines: { presentation: 'office' },
    options: {},
  },
  {
    target: 'odp',
    category: 'presentation',
    description: 'OpenDocument presentation',
    extension: 'odp',
    content_type: 'application/vnd.oasis.opendocument.presentation',
    accepts: ['presentation'],
    engines: { presentation: 'office' },
    options: {},
  },
];

const BY_TARGET = new Map(CATALOG.map((t) => [t.target, t]));

export function findTarget(target: string): TargetSpec | undefined {
  return BY_TARGET.get(target.toLowerCase());
}

export type ConversionOptions = Record<string, string | number | boolean>;

export interface OptionProblem {
  field: string;
  message: string;
}

/** Checks options against a target's spec. Returns the problems, each naming its field (`options.<name>`). */
export function validateOptions(spec: TargetSpec, options: unknown): OptionProblem[] {
  if (options === undefined || options === null) return [];
  if (typeof options !== 'object' || Array.isArray(options)) {
    return [{ field: 'options', message: 'options must be an object' }];
  }
  const problems: OptionProblem[] = [];
  for (const [name, value] of Object.entries(options as Record<string, unknown>)) {
    const field = `options.${name}`;
    const opt = Object.hasOwn(spec.options, name) ? spec.options[name] : undefined;
    if (!opt) {
      const known = Object.keys(spec.options);
      problems.push({
        field,
        message: `unknown option for target ${spec.target}; known: ${known.join(', ') || 'none'}`,
      });
      continue;
    }
    if (opt.type === 'boolean') {
      if (typeof value !== 'boolean') problems.push({ field, message: 'must be true or false' });
      continue;
    }
    if (opt.type === 'enum') {
      if (!opt.values.includes(value as string | number)) {
        problems.push({ field, message: `must be one of ${opt.values.join(', ')}` });
      }
      continue;
    }
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      problems.push({ field, message: `must be a ${opt.type === 'integer' ? 'whole number' : 'number'}` });
      continue;
    }
    if (opt.type === 'integer' && !Number.isInteger(value)) {
      problems.push({ field, message: 'must be a whole number' });
      continue;
    }
    if (value < opt.min || value > opt.max) {
      problems.push({ field, message: `must be between ${opt.min} and ${opt.max}` });
    }
  }
  const o = options as Record<string, unknown>;
  if (typeof o.video_bitrate === 'number' && o.crf !== undefined) {
    problems.push({ field: 'options.crf', message: 'give either crf or video_bitrate, not both' });
  }
  return problems;
}

/**
 * The engine that makes `target` from an input of `kind`; undefined when the target does not take
 * that kind (an impossible pair). An input whose kind is not known yet goes to ffmpeg, whose probe
 * tells media apart (and refuses the rest as `unsupported_media_type`).
 */
export function engineFor(
  target: TargetSpec,
  kind: InputKind | null | undefined,
  format?: string | null,
): EngineName | undefined {
  if (!kind) return 'ffmpeg';
  const engine = target.engines[kind];
  // libvips reads the common formats; an image in another one (BMP, ICO…) is ffmpeg's, where it can make the target.
  if (engine === 'vips' && format && !VIPS_READS.includes(format))
    return target.target === 'avif' ? undefined : 'ffmpeg';
  return engine;
}

/** Image formats (as input-kind.ts names them) that the vips engine reads. */
export const VIPS_READS: readonly string[] = ['png', 'jpeg', 'webp', 'gif', 'tiff', 'avif'];

/** The options of `target` that `engine` reads (all of them unless the target says otherwise). */
export function optionsForEngine(target: TargetSpec, engine: EngineName): readonly string[] {
  return target.options_for?.[engine] ?? Object.keys(target.options);
}
