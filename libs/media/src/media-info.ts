/**
 * One description of an input file, normalised from `ffprobe -print_format json -show_format
 * -show_streams`. Pure: no process, no file system.
 */
export type MediaKind = 'video' | 'audio' | 'image' | 'unknown';

export interface MediaInfo {
  /** ffprobe's format_name, e.g. `mov,mp4,m4a,3gp,3g2,mj2`, `png_pipe`, `wav`. */
  format: string;
  /** null for still images and when ffprobe does not know. */
  duration_s: number | null;
  size_bytes: number | null;
  /** bit/s of the whole file. */
  bit_rate: number | null;
  kind: MediaKind;
  /** Displayed size of the main picture (a 90°/270° rotation is applied); null without one. */
  width: number | null;
  height: number | null;
  /** Average frame rate of a moving video; null for stills and audio. */
  fps: number | null;
  video_codec: string | null;
  audio_codec: string | null;
  audio_channels: number | null;
  sample_rate: number | null;
  /** Decodable streams; video excludes cover art (`disposition.attached_pic`). */
  streams: { video: number; audio: number };
  /** ffprobe index of the picture stream a conversion reads (`-map 0:N`); for an image that may be cover art. */
  video_stream_index: number | null;
  /** ffprobe index of the audio stream a conversion reads. */
  audio_stream_index: number | null;
}

/**
 * The MediaInfo of a picture told from its header, without ffprobe (image-sniff.ts, the vips
 * engine): one picture stream, no audio; `duration_s` and `fps` only for an animation.
 */
export function pictureInfo(p: {
  format: string;
  size_bytes: number | null;
  width: number;
  height: number;
  codec: string;
  duration_s?: number | null;
  fps?: number | null;
}): MediaInfo {
  return {
    format: p.format,
    duration_s: p.duration_s ?? null,
    size_bytes: p.size_bytes,
    bit_rate: null,
    kind: 'image',
    width: p.width,
    height: p.height,
    fps: p.fps ?? null,
    video_codec: p.codec,
    audio_codec: null,
    audio_channels: null,
    sample_rate: null,
    streams: { video: 1, audio: 0 },
    video_stream_index: 0,
    audio_stream_index: null,
  };
}

/** The parts of ffprobe's JSON we read. Numbers arrive as strings in JSON output ("2.000000", "N/A"). */
export interface FfprobeStream {
  index?: number;
  codec_name?: string;
  codec_type?: string;
  width?: number;
  height?: number;
  avg_frame_rate?: string;
  r_frame_rate?: string;
  nb_frames?: string | number;
  duration?: string | number;
  sample_rate?: string | number;
  channels?: number;
  disposition?: Record<string, number | undefined>;
  tags?: Record<string, string | undefined>;
  side_data_list?: Array<{ side_data_type?: string; rotation?: number | string }>;
}

export interface FfprobeJson {
  format?: { format_name?: string; duration?: string | number; size?: string | number; bit_rate?: string | number };
  streams?: FfprobeStream[];
}

/**
 * Demuxers that only ever hold one picture. `*_pipe` are ffmpeg's single-image demuxers
 * (png_pipe, jpeg_pipe, webp_pipe, bmp_pipe, tiff_pipe, …); `image2` is what a .jpg/.jpeg file gets.
 */
const STILL_FORMATS = new Set(['image2', 'image2pipe']);
/** Picture codecs that make a still when a stream holds exactly one frame (a still GIF is one). */
const STILL_CODECS = new Set(['mjpeg', 'png', 'bmp', 'tiff', 'webp', 'gif', 'jpeg2000', 'jpegls', 'qoi']);
/**
 * Containers that point at other files instead of holding media. With `-protocol_whitelist file`
 * they could still read any local file the process can, so they are never treated as media.
 */
const REFERENCE_FORMATS = new Set(['hls', 'concat', 'tty']);

export function normaliseProbe(probe: FfprobeJson): MediaInfo {
  const format = typeof probe.format?.format_name === 'string' ? probe.format.format_name : 'unknown';
  const formatNames = format.split(',');
  const streams = Array.isArray(probe.streams) ? probe.streams : [];
  const decodable = (s: FfprobeStream) => typeof s.codec_name === 'string' && s.codec_name.length > 0;

  const pictures = streams.filter((s) => s.codec_type === 'video' && decodable(s));
  const covers = pictures.filter((s) => s.disposition?.attached_pic === 1);
  const videos = pictures.filter((s) => s.disposition?.attached_pic !== 1);
  const audios = streams.filter((s) => s.codec_type === 'audio' && decodable(s));

  const stillFormat = formatNames.some((n) => STILL_FORMATS.has(n) || n.endsWith('_pipe'));
  const mainVideo = videos[0];
  const mainIsStill =
    mainVideo !== undefined &&
    (stillFormat || (STILL_CODECS.has(mainVideo.codec_name ?? '') && toNumber(mainVideo.nb_frames) === 1));

  let kind: MediaKind;
  let picture: FfprobeStream | undefined;
  if (formatNames.some((n) => REFERENCE_FORMATS.has(n))) {
    kind = 'unknown';
  } else if (mainVideo && !mainIsStill) {
    kind = 'video';
    picture = mainVideo;
  } else if (mainVideo && mainIsStill && audios.length > 0 && !stillFormat) {
    // One still picture beside a sound track (e.g. a music video that is only a cover): audio.
    kind = 'audio';
  } else if (mainVideo) {
    kind = 'image';
    picture = mainVideo;
  } else if (audios.length > 0) {
    kind = 'audio';
  } else if (covers.length > 0) {
    kind = 'image';
    picture = covers[0];
  } else {
    kind = 'unknown';
  }

  const audio = kind === 'unknown' ? undefined : audios[0];
  const [width, height] = picture ? displaySize(picture) : [null, null];
  const moving = kind === 'video';

  return {
    format,
    duration_s:
      moving || kind === 'audio'
        ? (positive(probe.format?.duration) ?? positive(picture?.duration ?? audio?.duration))
        : null,
    size_bytes: toNumber(probe.format?.size),
    bit_rate: toNumber(probe.format?.bit_rate),
    kind,
    width,
    height,
    fps: moving && picture ? frameRate(picture) : null,
    video_codec: picture?.codec_name ?? null,
    audio_codec: audio?.codec_name ?? null,
    audio_channels: audio ? toNumber(audio.channels) : null,
    sample_rate: audio ? toNumber(audio.sample_rate) : null,
    streams: { video: kind === 'unknown' ? 0 : videos.length, audio: kind === 'unknown' ? 0 : audios.length },
    video_stream_index: picture ? (picture.index ?? null) : null,
    audio_stream_index: audio ? (audio.index ?? null) : null,
  };
}

function toNumber(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value !== 'string' || value.trim() === '') return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}

function positive(value: unknown): number | null {
  const n = toNumber(value);
  return n !== null && n > 0 ? n : null;
}

/** "30000/1001" → 29.97; "0/0" → null. */
function parseRate(rate: string | undefined): number | null {
  if (!rate) return null;
  const [num, den] = rate.split('/').map(Number);
  const value = den === undefined ? num : num / den;
  return Number.isFinite(value) && value > 0 ? Math.round(value * 1000) / 1000 : null;
}

function frameRate(s: FfprobeStream): number | null {
  return parseRate(s.avg_frame_rate) ?? parseRate(s.r_frame_rate);
}

function displaySize(s: FfprobeStream): [number | null, number | null] {
  const w = toNumber(s.width);
  const h = toNumber(s.height);
  const rotation =
    toNumber(s.side_data_list?.find((d) => d.rotation !== undefined)?.rotation) ?? toNumber(s.tags?.rotate) ?? 0;
  return Math.abs(rotation) % 180 === 90 ? [h, w] : [w, h];
}
