/**
 * The conversion catalog: one definition that `GET /v1/formats` serves, the gateway validates
 * against, and the converter executes (libs/media builds ffmpeg arguments from it).
 * Pure data and pure functions: no runtime dependencies.
 */
export type MediaCategory = 'video' | 'audio' | 'image';

export type OptionSpec =
  | { type: 'integer' | 'number'; min: number; max: number; default?: number; description: string }
  | { type: 'enum'; values: readonly (string | number)[]; default?: string | number; description: string };

export interface TargetSpec {
  target: string;
  category: MediaCategory;
  description: string;
  extension: string;
  content_type: string;
  /** Input kinds (by ffprobe) this target accepts. */
  accepts: readonly MediaCategory[];
  options: Readonly<Record<string, OptionSpec>>;
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

export const CATALOG: readonly TargetSpec[] = [
  {
    target: 'mp4',
    category: 'video',
    description: 'MPEG-4 (H.264 + AAC)',
    extension: 'mp4',
    content_type: 'video/mp4',
    accepts: ['video'],
    options: videoOptions(51, 23),
  },
  {
    target: 'webm',
    category: 'video',
    description: 'WebM (VP9 + Opus)',
    extension: 'webm',
    content_type: 'video/webm',
    accepts: ['video'],
    options: { ...videoOptions(63, 32), sample_rate: opusSampleRate },
  },
  {
    target: 'mov',
    category: 'video',
    description: 'QuickTime (H.264 + AAC)',
    extension: 'mov',
    content_type: 'video/quicktime',
    accepts: ['video'],
    options: videoOptions(51, 23),
  },
  {
    target: 'mkv',
    category: 'video',
    description: 'Matroska (H.264 + AAC)',
    extension: 'mkv',
    content_type: 'video/x-matroska',
    accepts: ['video'],
    options: videoOptions(51, 23),
  },
  {
    target: 'gif',
    category: 'video',
    description: 'Animated GIF (palette-based)',
    extension: 'gif',
    content_type: 'image/gif',
    accepts: ['video', 'image'],
    options: { width, height, fps: { ...fps, default: 10 } as OptionSpec, start, duration },
  },
  {
    target: 'mp3',
    category: 'audio',
    description: 'MP3 (LAME)',
    extension: 'mp3',
    content_type: 'audio/mpeg',
    accepts: ['audio', 'video'],
    options: { ...audioOptions, audio_channels: stereoChannels },
  },
  {
    target: 'm4a',
    category: 'audio',
    description: 'MPEG-4 audio (AAC)',
    extension: 'm4a',
    content_type: 'audio/mp4',
    accepts: ['audio', 'video'],
    options: audioOptions,
  },
  {
    target: 'ogg',
    category: 'audio',
    description: 'Ogg Vorbis',
    extension: 'ogg',
    content_type: 'audio/ogg',
    accepts: ['audio', 'video'],
    options: audioOptions,
  },
  {
    target: 'opus',
    category: 'audio',
    description: 'Opus (in Ogg)',
    extension: 'opus',
    content_type: 'audio/ogg',
    accepts: ['audio', 'video'],
    options: { ...audioOptions, sample_rate: opusSampleRate },
  },
  {
    target: 'wav',
    category: 'audio',
    description: 'WAV (PCM 16-bit)',
    extension: 'wav',
    content_type: 'audio/wav',
    accepts: ['audio', 'video'],
    options: { start, duration, audio_channels: channels, sample_rate: sampleRate },
  },
  {
    target: 'flac',
    category: 'audio',
    description: 'FLAC (lossless)',
    extension: 'flac',
    content_type: 'audio/flac',
    accepts: ['audio', 'video'],
    options: { start, duration, audio_channels: channels, sample_rate: sampleRate },
  },
  {
    target: 'png',
    category: 'image',
    description: 'PNG (from an image, or a frame of a video)',
    extension: 'png',
    content_type: 'image/png',
    accepts: ['image', 'video'],
    options: { width, height, time },
  },
  {
    target: 'jpg',
    category: 'image',
    description: 'JPEG (from an image, or a frame of a video)',
    extension: 'jpg',
    content_type: 'image/jpeg',
    accepts: ['image', 'video'],
    options: { width, height, quality: imageQuality, time },
  },
  {
    target: 'webp',
    category: 'image',
    description: 'WebP (from an image, or a frame of a video)',
    extension: 'webp',
    content_type: 'image/webp',
    accepts: ['image', 'video'],
    options: { width, height, quality: imageQuality, time },
  },
  {
    target: 'bmp',
    category: 'image',
    description: 'BMP',
    extension: 'bmp',
    content_type: 'image/bmp',
    accepts: ['image', 'video'],
    options: { width, height, time },
  },
  {
    target: 'tiff',
    category: 'image',
    description: 'TIFF',
    extension: 'tiff',
    content_type: 'image/tiff',
    accepts: ['image', 'video'],
    options: { width, height, time },
  },
];

const BY_TARGET = new Map(CATALOG.map((t) => [t.target, t]));

export function findTarget(target: string): TargetSpec | undefined {
  return BY_TARGET.get(target.toLowerCase());
}

export type ConversionOptions = Record<string, string | number>;

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
