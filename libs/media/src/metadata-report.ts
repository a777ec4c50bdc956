/**
 * The metadata target's document: what one ffprobe run found, as CloudConvert's metadata task
 * gives it (one flat description of the file first, its tags, then each stream). The flat part is
 * Kiln's normalised MediaInfo (the same fields as the input's `media` in the API); `tags` are the
 * container's tags (title, artist, encoder, creation_time…); `stream_details` summarise every
 * stream ffprobe listed, decodable or not. Pure: no process, no file system.
 */
import type { FfprobeJson, MediaInfo } from './media-info';

export interface StreamSummary {
  index: number | null;
  type: string | null;
  codec: string | null;
  codec_long_name: string | null;
  profile: string | null;
  width: number | null;
  height: number | null;
  pix_fmt: string | null;
  frame_rate: number | null;
  duration_s: number | null;
  bit_rate: number | null;
  sample_rate: number | null;
  channels: number | null;
  channel_layout: string | null;
  /** Cover art (`disposition.attached_pic`), the default stream of its type. */
  attached_pic: boolean;
  default: boolean;
  tags: Record<string, string>;
}

export interface MetadataReport extends MediaInfo {
  format_long_name: string | null;
  start_time_s: number | null;
  /** The container's tags; keys as the file has them. */
  tags: Record<string, string>;
  stream_details: StreamSummary[];
}

/** `raw` is ffprobe's JSON of the same run that gave `info`. */
export function metadataReport(info: MediaInfo, raw: FfprobeJson): MetadataReport {
  const format = (raw.format ?? {}) as Record<string, unknown>;
  const streams = Array.isArray(raw.streams) ? (raw.streams as unknown as Record<string, unknown>[]) : [];
  return {
    ...info,
    format_long_name: text(format.format_long_name),
    start_time_s: number(format.start_time),
    tags: tags(format.tags),
    stream_details: streams.map(streamSummary),
  };
}

function streamSummary(s: Record<string, unknown>): StreamSummary {
  const disposition = (s.disposition ?? {}) as Record<string, unknown>;
  return {
    index: number(s.index),
    type: text(s.codec_type),
    codec: text(s.codec_name),
    codec_long_name: text(s.codec_long_name),
    profile: text(s.profile),
    width: number(s.width),
    height: number(s.height),
    pix_fmt: text(s.pix_fmt),
    frame_rate: s.codec_type === 'video' ? rate(s.avg_frame_rate) : null,
    duration_s: number(s.duration),
    bit_rate: number(s.bit_rate),
    sample_rate: number(s.sample_rate),
    channels: number(s.channels),
    channel_layout: text(s.channel_layout),
    attached_pic: disposition.attached_pic === 1,
    default: disposition.default === 1,
    tags: tags(s.tags),
  };
}

function tags(value: unknown): Record<string, string> {
  if (!value || typeof value !== 'object') return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) if (typeof v === 'string') out[k] = v;
  return out;
}

function text(value: unknown): string | null {
  return typeof value === 'string' && value.length > 0 ? value : null;
}

/** ffprobe writes numbers as strings ("2.000000", "N/A"). */
function number(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value !== 'string' || value.trim() === '') return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}

/** "30000/1001" → 29.97; "0/0" → null. */
function rate(value: unknown): number | null {
  if (typeof value !== 'string') return null;
  const [num, den] = value.split('/').map(Number);
  const r = den === undefined ? num : num / den;
  return Number.isFinite(r) && r > 0 ? Math.round(r * 1000) / 1000 : null;
}
