// The bad requests of the jobs API that jobs.schemas*.spec.ts expect refused, each with the field(s)
// the refusal must name: conversions, inputs, POST /v1/jobs and PATCH /v1/jobs/{id} bodies, and
// GET /v1/jobs queries.
import { conv } from './refusals';

// ---------------------------------------------------------------------------------------------
// Conversions: each case is checked twice, as the body of POST /v1/jobs/{id}/conversions (field
// `options.x`) and inside POST /v1/jobs (field `conversion.<i>.options.x`).
// ---------------------------------------------------------------------------------------------

export interface BadConversion {
  why: string;
  spec: unknown;
  /** Field(s) relative to the conversion. */
  fields: string[];
}

export const badConversions: BadConversion[] = [
  // target
  { why: 'unknown target', spec: conv('xyz'), fields: ['target'] },
  { why: 'unknown target that is an Object.prototype name', spec: conv('constructor'), fields: ['target'] },
  { why: 'target is a number', spec: conv(5), fields: ['target'] },
  { why: 'target is null', spec: conv(null), fields: ['target'] },
  { why: 'target is an array', spec: conv(['mp4']), fields: ['target'] },
  { why: 'target is longer than 32 characters', spec: conv('m'.repeat(33)), fields: ['target', 'target'] },
  { why: 'target missing', spec: { options: {} }, fields: ['target'] },
  { why: 'unknown field next to target', spec: { target: 'mp4', profile: 'fast' }, fields: ['profile'] },

  // options container
  { why: 'options is a string', spec: conv('mp4', 'width=640'), fields: ['options'] },
  { why: 'options is a number', spec: conv('mp4', 640), fields: ['options'] },
  { why: 'options is an array', spec: conv('mp4', [{ width: 640 }]), fields: ['options'] },
  { why: 'options is null', spec: conv('mp4', null), fields: ['options'] },

  // unknown option for the target
  { why: 'crf on mp3', spec: conv('mp3', { crf: 20 }), fields: ['options.crf'] },
  { why: 'video_bitrate on gif', spec: conv('gif', { video_bitrate: 1000 }), fields: ['options.video_bitrate'] },
  { why: 'audio_bitrate on wav (PCM)', spec: conv('wav', { audio_bitrate: 128 }), fields: ['options.audio_bitrate'] },
  {
    why: 'audio_bitrate on flac (lossless)',
    spec: conv('flac', { audio_bitrate: 128 }),
    fields: ['options.audio_bitrate'],
  },
  { why: 'quality on png (lossless)', spec: conv('png', { quality: 80 }), fields: ['options.quality'] },
  { why: 'quality on mp4', spec: conv('mp4', { quality: 80 }), fields: ['options.quality'] },
  { why: 'time on mp4', spec: conv('mp4', { time: 1 }), fields: ['options.time'] },
  { why: 'width on mp3', spec: conv('mp3', { width: 640 }), fields: ['options.width'] },
  { why: 'made-up option', spec: conv('mp4', { colour: 'red' }), fields: ['options.colour'] },

  // integer options given a float, and wrong types
  { why: 'width 640.5 (integer)', spec: conv('mp4', { width: 640.5 }), fields: ['options.width'] },
  { why: 'height 360.1 (integer)', spec: conv('webm', { height: 360.1 }), fields: ['options.height'] },
  { why: 'crf 23.5 (integer)', spec: conv('mp4', { crf: 23.5 }), fields: ['options.crf'] },
  {
    why: 'audio_bitrate 128.5 (integer)',
    spec: conv('mp3', { audio_bitrate: 128.5 }),
    fields: ['options.audio_bitrate'],
  },
  {
    why: 'video_bitrate 999.9 (integer)',
    spec: conv('mkv', { video_bitrate: 999.9 }),
    fields: ['options.video_bitrate'],
  },
  { why: 'quality 85.5 (integer)', spec: conv('jpg', { quality: 85.5 }), fields: ['options.quality'] },
  {
    why: 'audio_channels 1.5 (integer)',
    spec: conv('m4a', { audio_channels: 1.5 }),
    fields: ['options.audio_channels'],
  },
  { why: 'width as a numeric string', spec: conv('mp4', { width: '640' }), fields: ['options.width'] },
  { why: 'fps as a string', spec: conv('mp4', { fps: '30' }), fields: ['options.fps'] },
  { why: 'start as a boolean', spec: conv('mp3', { start: true }), fields: ['options.start'] },
  { why: 'duration null', spec: conv('mp3', { duration: null }), fields: ['options.duration'] },
  { why: 'width as an object', spec: conv('png', { width: { px: 640 } }), fields: ['options.width'] },

  // ranges: below min, above max
  { why: 'width 15 < 16', spec: conv('mp4', { width: 15 }), fields: ['options.width'] },
  { why: 'width 7681 > 7680', spec: conv('mp4', { width: 7681 }), fields: ['options.width'] },
  { why: 'width 0 on png', spec: conv('png', { width: 0 }), fields: ['options.width'] },
  { why: 'width -640 on gif', spec: conv('gif', { width: -640 }), fields: ['options.width'] },
  { why: 'height 15 < 16', spec: conv('mov', { height: 15 }), fields: ['options.height'] },
  { why: 'height 4321 > 4320', spec: conv('mov', { height: 4321 }), fields: ['options.height'] },
  { why: 'fps 0.5 < 1', spec: conv('mp4', { fps: 0.5 }), fields: ['options.fps'] },
  { why: 'fps 121 > 120', spec: conv('gif', { fps: 121 }), fields: ['options.fps'] },
  { why: 'audio_bitrate 31 < 32', spec: conv('mp3', { audio_bitrate: 31 }), fields: ['options.audio_bitrate'] },
  { why: 'audio_bitrate 513 > 512', spec: conv('ogg', { audio_bitrate: 513 }), fields: ['options.audio_bitrate'] },
  { why: 'video_bitrate 63 < 64', spec: conv('mp4', { video_bitrate: 63 }), fields: ['options.video_bitrate'] },
  {
    why: 'video_bitrate 50001 > 50000',
    spec: conv('webm', { video_bitrate: 50001 }),
    fields: ['options.video_bitrate'],
  },
  { why: 'crf -1 < 0', spec: conv('mp4', { crf: -1 }), fields: ['options.crf'] },
  { why: 'crf 52 > 51 on mp4', spec: conv('mp4', { crf: 52 }), fields: ['options.crf'] },
  { why: 'crf 64 > 63 on webm', spec: conv('webm', { crf: 64 }), fields: ['options.crf'] },
  { why: 'start -1 < 0', spec: conv('mp4', { start: -1 }), fields: ['options.start'] },
  { why: 'start 86401 > 86400', spec: conv('flac', { start: 86401 }), fields: ['options.start'] },
  { why: 'duration 0 < 0.01', spec: conv('mp3', { duration: 0 }), fields: ['options.duration'] },
  { why: 'duration 86400.5 > 86400', spec: conv('mp4', { duration: 86400.5 }), fields: ['options.duration'] },
  { why: 'quality 0 < 1', spec: conv('jpg', { quality: 0 }), fields: ['options.quality'] },
  { why: 'quality 101 > 100', spec: conv('webp', { quality: 101 }), fields: ['options.quality'] },
  { why: 'time -0.5 < 0', spec: conv('png', { time: -0.5 }), fields: ['options.time'] },
  { why: 'time 86401 > 86400', spec: conv('jpg', { time: 86401 }), fields: ['options.time'] },
  { why: 'audio_channels 0 < 1', spec: conv('m4a', { audio_channels: 0 }), fields: ['options.audio_channels'] },
  { why: 'audio_channels 9 > 8', spec: conv('wav', { audio_channels: 9 }), fields: ['options.audio_channels'] },
  {
    why: 'audio_channels 3 on mp3 (LAME: mono or stereo)',
    spec: conv('mp3', { audio_channels: 3 }),
    fields: ['options.audio_channels'],
  },

  // enums
  {
    why: 'sample_rate 44100 on webm (Opus)',
    spec: conv('webm', { sample_rate: 44100 }),
    fields: ['options.sample_rate'],
  },
  { why: 'sample_rate 44100 on opus', spec: conv('opus', { sample_rate: 44100 }), fields: ['options.sample_rate'] },
  { why: 'sample_rate 22050 on opus', spec: conv('opus', { sample_rate: 22050 }), fields: ['options.sample_rate'] },
  { why: 'sample_rate 11025 on webm', spec: conv('webm', { sample_rate: 11025 }), fields: ['options.sample_rate'] },
  {
    why: 'sample_rate 12000 on mp4 (an Opus-only rate)',
    spec: conv('mp4', { sample_rate: 12000 }),
    fields: ['options.sample_rate'],
  },
  { why: 'sample_rate 44000 on mp3', spec: conv('mp3', { sample_rate: 44000 }), fields: ['options.sample_rate'] },
  {
    why: 'sample_rate "44100" as a string',
    spec: conv('mp3', { sample_rate: '44100' }),
    fields: ['options.sample_rate'],
  },

  // crf and video_bitrate are exclusive
  {
    why: 'crf together with video_bitrate',
    spec: conv('mp4', { crf: 23, video_bitrate: 2000 }),
    fields: ['options.crf'],
  },
  {
    why: 'crf together with video_bitrate on webm',
    spec: conv('webm', { video_bitrate: 1500, crf: 30 }),
    fields: ['options.crf'],
  },

  // several problems: each is named
  {
    why: 'several bad options at once',
    spec: conv('mp4', { width: 1, height: 99999, sample_rate: 1 }),
    fields: ['options.width', 'options.height', 'options.sample_rate'],
  },
];

// ---------------------------------------------------------------------------------------------
// Inputs: POST /v1/jobs/{id}/input (field `x`) and inside POST /v1/jobs (field `input.<i>.x`).
// ---------------------------------------------------------------------------------------------

export const badInputs: { why: string; spec: unknown; fields: string[] }[] = [
  { why: 'unknown input type', spec: { type: 'ftp', source: 'ftp://example.com/a.mp4' }, fields: ['type'] },
  { why: 'input type missing', spec: { source: 'https://example.com/a.mp4' }, fields: ['type'] },
  { why: 'input type is a number', spec: { type: 1 }, fields: ['type'] },
  { why: 'remote input without source', spec: { type: 'remote' }, fields: ['source'] },
  {
    why: 'remote input with an ftp source',
    spec: { type: 'remote', source: 'ftp://example.com/a.mp4' },
    fields: ['source'],
  },
  {
    why: 'remote input with a file: source',
    spec: { type: 'remote', source: 'file:///etc/passwd' },
    fields: ['source'],
  },
  { why: 'remote input with a relative source', spec: { type: 'remote', source: '/a.mp4' }, fields: ['source'] },
  { why: 'remote input with a non-string source', spec: { type: 'remote', source: 42 }, fields: ['source'] },
  {
    why: 'remote input with an empty filename',
    spec: { type: 'remote', source: 'https://example.com/a.mp4', filename: '' },
    fields: ['filename'],
  },
  { why: 'upload input with negative size', spec: { type: 'upload', size: -1 }, fields: ['size'] },
  { why: 'upload input with a fractional size', spec: { type: 'upload', size: 10.5 }, fields: ['size'] },
  { why: 'upload input with a string size', spec: { type: 'upload', size: '100' }, fields: ['size'] },
  {
    why: 'upload input with a filename over 255 characters',
    spec: { type: 'upload', filename: `${'a'.repeat(252)}.mp4` },
    fields: ['filename'],
  },
  {
    why: 'upload input with a source',
    spec: { type: 'upload', source: 'https://example.com/a.mp4' },
    fields: ['source'],
  },
  {
    why: 'upload input with an upload_id that is not a uuid',
    spec: { type: 'upload', upload_id: 'abc' },
    fields: ['upload_id'],
  },
  {
    why: 'upload input with an upload_id and a size',
    spec: { type: 'upload', upload_id: '6f1c2a52-3c2e-4a53-9d0e-1b2c3d4e5f60', size: 3 },
    fields: ['upload_id'],
  },
  {
    why: 'upload input with an upload_id and a filename',
    spec: { type: 'upload', upload_id: '6f1c2a52-3c2e-4a53-9d0e-1b2c3d4e5f60', filename: 'a.wav' },
    fields: ['upload_id'],
  },
];

// ---------------------------------------------------------------------------------------------
// The rest of POST /v1/jobs, PATCH /v1/jobs/{id} and GET /v1/jobs?...
// ---------------------------------------------------------------------------------------------

export const manyConversions = (n: number) => Array.from({ length: n }, () => conv('mp4'));
export const manyInputs = (n: number) => Array.from({ length: n }, () => ({ type: 'upload' }));

export const badJobBodies: { why: string; body: unknown; fields: string[] }[] = [
  { why: 'process is a string', body: { process: 'yes' }, fields: ['process'] },
  { why: 'process is a number', body: { process: 1 }, fields: ['process'] },
  { why: 'process is null', body: { process: null }, fields: ['process'] },
  { why: 'callback ftp://', body: { callback: 'ftp://example.com/hook' }, fields: ['callback'] },
  { why: 'callback javascript:', body: { callback: 'javascript:alert(1)' }, fields: ['callback'] },
  { why: 'callback relative path', body: { callback: '/hooks/kiln' }, fields: ['callback'] },
  { why: 'callback without a scheme', body: { callback: 'example.com/hook' }, fields: ['callback'] },
  { why: 'callback data:', body: { callback: 'data:text/plain,hi' }, fields: ['callback'] },
  { why: 'callback file:', body: { callback: 'file:///etc/passwd' }, fields: ['callback'] },
  { why: 'callback without a host', body: { callback: 'http://' }, fields: ['callback'] },
  {
    why: 'callback over 2048 characters',
    body: { callback: `https://example.com/${'a'.repeat(2048)}` },
    fields: ['callback'],
  },
  { why: 'callback is a number', body: { callback: 42 }, fields: ['callback'] },
  { why: 'tag over 255 characters', body: { tag: 't'.repeat(256) }, fields: ['tag'] },
  { why: 'tag is a number', body: { tag: 7 }, fields: ['tag'] },
  { why: 'unknown top-level field', body: { colour: 'red' }, fields: ['colour'] },
  { why: 'two unknown top-level fields', body: { colour: 'red', inputs: [] }, fields: ['colour', 'inputs'] },
  {
    why: 'unknown field next to valid ones',
    body: { process: false, conversion: [conv('mp4')], priority: 1 },
    fields: ['priority'],
  },
  { why: 'conversion array over 20 items', body: { conversion: manyConversions(21) }, fields: ['conversion'] },
  { why: 'input array over 100 items', body: { input: manyInputs(101) }, fields: ['input'] },
  { why: 'conversion is an object, not an array', body: { conversion: conv('mp4') }, fields: ['conversion'] },
  { why: 'input is a string', body: { input: 'https://example.com/a.mp4' }, fields: ['input'] },
  { why: 'conversion item is a string', body: { conversion: ['mp4'] }, fields: ['conversion.0'] },
  { why: 'the body is an array', body: [conv('mp4')], fields: ['body'] },
  { why: 'the body is a string', body: 'process=true', fields: ['body'] },
];

export const badPatchBodies: { why: string; body: unknown; fields: string[] }[] = [
  { why: 'process false (a job cannot be stopped by PATCH)', body: { process: false }, fields: ['process'] },
  { why: 'process is a string', body: { process: 'true' }, fields: ['process'] },
  { why: 'callback ftp://', body: { callback: 'ftp://example.com/hook' }, fields: ['callback'] },
  { why: 'callback relative', body: { callback: 'hook' }, fields: ['callback'] },
  { why: 'tag over 255 characters', body: { tag: 'x'.repeat(256) }, fields: ['tag'] },
  {
    why: 'conversion (add conversions with POST .../conversions)',
    body: { process: true, conversion: [conv('mp4')] },
    fields: ['conversion'],
  },
  { why: 'input (add inputs with POST .../input)', body: { input: [] }, fields: ['input'] },
  { why: 'unknown field', body: { colour: 'red' }, fields: ['colour'] },
];

export const badListQueries: { why: string; query: Record<string, unknown>; fields: string[] }[] = [
  { why: 'limit 0', query: { limit: '0' }, fields: ['limit'] },
  { why: 'limit 101', query: { limit: '101' }, fields: ['limit'] },
  { why: 'limit -5', query: { limit: '-5' }, fields: ['limit'] },
  { why: 'limit 2.5', query: { limit: '2.5' }, fields: ['limit'] },
  { why: 'limit not a number', query: { limit: 'ten' }, fields: ['limit'] },
  { why: 'cursor over 200 characters', query: { cursor: 'c'.repeat(201) }, fields: ['cursor'] },
  { why: 'cursor given twice (?cursor=a&cursor=b)', query: { cursor: ['a', 'b'] }, fields: ['cursor'] },
  { why: 'unknown status', query: { status: 'done' }, fields: ['status'] },
  { why: 'unknown parameter', query: { offset: '10' }, fields: ['offset'] },
];
