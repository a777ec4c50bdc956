import { CATALOG, findTarget, type ConversionOptions, type TargetSpec } from '@kiln/contracts';
import {
  buildConversion,
  jpegQscale,
  targetsWithoutRecipe,
  toArgs,
  type BuilderSettings,
  type ConversionPlan,
} from './command-builder';
import { ACCEPTED_DEMUXERS } from './input-formats';
import type { MediaInfo } from './media-info';

const IN = '/work/in/source';
const OUT = '/work/out/result';
const GLOBAL = [
  '-hide_banner',
  '-nostdin',
  '-y',
  '-protocol_whitelist',
  'file',
  '-format_whitelist',
  ACCEPTED_DEMUXERS.join(','),
];

const video: MediaInfo = {
  format: 'mov,mp4,m4a,3gp,3g2,mj2',
  duration_s: 10,
  size_bytes: 1_000_000,
  bit_rate: 800_000,
  kind: 'video',
  width: 1920,
  height: 1080,
  fps: 25,
  video_codec: 'h264',
  audio_codec: 'aac',
  audio_channels: 2,
  sample_rate: 44100,
  streams: { video: 1, audio: 1 },
  video_stream_index: 0,
  audio_stream_index: 1,
};
const silentVideo: MediaInfo = {
  ...video,
  audio_codec: null,
  audio_channels: null,
  sample_rate: null,
  streams: { video: 1, audio: 0 },
  audio_stream_index: null,
};
const audio: MediaInfo = {
  ...video,
  format: 'mp3',
  kind: 'audio',
  width: null,
  height: null,
  fps: null,
  video_codec: null,
  audio_codec: 'mp3',
  streams: { video: 0, audio: 1 },
  video_stream_index: null,
  audio_stream_index: 0,
};
const image: MediaInfo = {
  ...video,
  format: 'png_pipe',
  kind: 'image',
  duration_s: null,
  width: 641,
  height: 481,
  fps: null,
  video_codec: 'png',
  audio_codec: null,
  audio_channels: null,
  sample_rate: null,
  streams: { video: 1, audio: 0 },
  video_stream_index: 0,
  audio_stream_index: null,
};

function target(name: string): TargetSpec {
  const spec = findTarget(name);
  if (!spec) throw new Error(`no catalog target ${name}`);
  return spec;
}

function plan(
  name: string,
  input: MediaInfo,
  options: ConversionOptions = {},
  settings?: BuilderSettings,
): ConversionPlan {
  return buildConversion({ target: target(name), options, input, inputPath: IN, outputPath: OUT }, settings);
}

/** The single pass's flat argument list. */
function args(name: string, input: MediaInfo, options: ConversionOptions = {}, settings?: BuilderSettings): string[] {
  const p = plan(name, input, options, settings);
  if (p.kind !== 'ok') throw new Error(`expected ok, got ${p.message}`);
  expect(p.passes).toHaveLength(1);
  return toArgs(p.passes[0]);
}

/** The value after a flag, e.g. flagValue(a, '-vf'). */
function flagValue(list: string[], flag: string): string | undefined {
  const i = list.indexOf(flag);
  return i < 0 ? undefined : list[i + 1];
}

describe('buildConversion', () => {
  describe('every catalog target', () => {
    it('has a recipe', () => {
      expect(targetsWithoutRecipe()).toEqual([]);
    });

    const inputFor = (t: TargetSpec) => (t.category === 'audio' ? audio : video);
    it.each(CATALOG.map((t) => [t.target, t] as const))(
      '%s: whitelist and globals come before -i, paths in place',
      (_n, t) => {
        const a = args(t.target, inputFor(t));
        const i = a.indexOf('-i');
        expect(a.slice(0, GLOBAL.length)).toEqual(GLOBAL);
        expect(a.indexOf('-protocol_whitelist')).toBeLessThan(i);
        expect(a[i + 1]).toBe(IN);
        expect(a.filter((x) => x === '-i')).toHaveLength(1);
        expect(a[a.length - 1]).toBe(OUT);
        // Each output names its muxer, so the output path needs no extension.
        expect(flagValue(a, '-f')).toBeDefined();
        // No argument holds a space (fluent-ffmpeg would split such an option).
        expect(a.filter((x) => x.includes(' '))).toEqual([]);
      },
    );
  });

  it('mp4: exact argument list with crf default, faststart, audio mapped', () => {
    expect(args('mp4', video)).toEqual([
      ...GLOBAL,
      '-i',
      IN,
      '-map',
      '0:0',
      '-map',
      '0:1',
      '-c:v',
      'libx264',
      '-preset',
      'veryfast',
      '-crf',
      '23',
      '-pix_fmt',
      'yuv420p',
      '-c:a',
      'aac',
      '-movflags',
      '+faststart',
      '-f',
      'mp4',
      OUT,
    ]);
  });

  it('mov and mkv use H.264 + AAC; only mov gets faststart', () => {
    const mov = args('mov', video);
    const mkv = args('mkv', video);
    expect(flagValue(mov, '-c:v')).toBe('libx264');
    expect(flagValue(mkv, '-c:v')).toBe('libx264');
    expect(flagValue(mov, '-c:a')).toBe('aac');
    expect(flagValue(mkv, '-c:a')).toBe('aac');
    expect(flagValue(mov, '-movflags')).toBe('+faststart');
    expect(mkv).not.toContain('-movflags');
    expect(flagValue(mov, '-f')).toBe('mov');
    expect(flagValue(mkv, '-f')).toBe('matroska');
  });

  it('webm: realtime VP9 with constant quality and Opus with Vorbis channel layouts', () => {
    const a = args('webm', video);
    expect(a).toEqual(
      expect.arrayContaining(['-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8', '-row-mt', '1']),
    );
    expect(flagValue(a, '-crf')).toBe('32');
    expect(flagValue(a, '-b:v')).toBe('0');
    expect(flagValue(a, '-c:a')).toBe('libopus');
    expect(flagValue(a, '-af')).toBe('aformat=channel_layouts=mono|stereo|3.0|quad|5.0|5.1|6.1|7.1');
    expect(flagValue(a, '-pix_fmt')).toBe('yuv420p');
  });

  it("reads only the input file, with Kiln's demuxers, and caps the decoder's pixels when told", () => {
    for (const t of CATALOG) {
      const a = args(t.target, t.category === 'audio' ? audio : video, {}, { maxPixels: 50_000_000 });
      const i = a.indexOf('-i');
      expect(flagValue(a, '-protocol_whitelist')).toBe('file');
      const demuxers = flagValue(a, '-format_whitelist')!.split(',');
      for (const reference of ['hls', 'concat', 'dash', 'imf', 'tty', 'image2pipe', 'sdp', 'rtsp'])
        expect(demuxers).not.toContain(reference);
      expect(demuxers).toEqual(expect.arrayContaining(['mov', 'matroska', 'wav', 'flac', 'png_pipe', 'jpeg_pipe']));
      expect(flagValue(a, '-max_pixels')).toBe('50000000');
      expect(a.indexOf('-max_pixels')).toBeLessThan(i);
      expect(a.indexOf('-format_whitelist')).toBeLessThan(i);
    }
    expect(args('mp4', video)).not.toContain('-max_pixels');
  });

  it('preset and threads come from the builder settings', () => {
    const a = args('mp4', video, {}, { preset: 'ultrafast', threads: 2 });
    expect(flagValue(a, '-preset')).toBe('ultrafast');
    expect(flagValue(a, '-threads')).toBe('2');
    expect(args('mp4', video)).not.toContain('-threads');
  });

  it('a video bitrate replaces crf', () => {
    const x264 = args('mp4', video, { video_bitrate: 1500 });
    expect(flagValue(x264, '-b:v')).toBe('1500k');
    expect(x264).not.toContain('-crf');
    const vp9 = args('webm', video, { video_bitrate: 800 });
    expect(flagValue(vp9, '-b:v')).toBe('800k');
    expect(vp9).not.toContain('-crf');
    expect(flagValue(args('mp4', video, { crf: 30 }), '-crf')).toBe('30');
  });

  it('video without audio gets -an and no audio encoder', () => {
    const a = args('mp4', silentVideo);
    expect(a).toContain('-an');
    expect(a).not.toContain('-c:a');
    expect(a.filter((x) => x === '-map')).toHaveLength(1);
  });

  describe('scaling', () => {
    it('width only keeps the aspect ratio with an even height', () => {
      expect(flagValue(args('mp4', video, { width: 640 }), '-vf')).toBe('scale=640:-2');
    });
    it('height only keeps the aspect ratio with an even width', () => {
      expect(flagValue(args('webm', video, { height: 360 }), '-vf')).toBe('scale=-2:360');
    });
    it('both give that box with square pixels, rounded down to even for yuv420p', () => {
      expect(flagValue(args('mp4', video, { width: 641, height: 361 }), '-vf')).toBe('scale=640:360,setsar=1');
    });
    it('odd width alone is made even', () => {
      expect(flagValue(args('mkv', video, { width: 321 }), '-vf')).toBe('scale=320:-2');
    });
    it('an odd-sized input is trimmed to even; an even one is left alone', () => {
      expect(flagValue(args('mp4', { ...video, width: 321, height: 241 }), '-vf')).toBe(
        'scale=trunc(iw/2)*2:trunc(ih/2)*2',
      );
      expect(args('mp4', video)).not.toContain('-vf');
    });
    it('fps comes before scaling in the chain', () => {
      expect(flagValue(args('mp4', video, { fps: 12.5, width: 320 }), '-vf')).toBe('fps=12.5,scale=320:-2');
    });
    it('stills take any size and keep the aspect with -1', () => {
      expect(flagValue(args('png', video, { width: 321 }), '-vf')).toBe('scale=321:-1:flags=lanczos');
      expect(flagValue(args('jpg', image, { height: 100 }), '-vf')).toBe('scale=-1:100:flags=lanczos');
      expect(flagValue(args('webp', image, { width: 99, height: 51 }), '-vf')).toBe(
        'scale=99:51:flags=lanczos,setsar=1',
      );
    });
  });

  describe('trim', () => {
    it('start seeks the input and duration limits it, both before -i', () => {
      const p = plan('mp4', video, { start: 1.5, duration: 3 });
      if (p.kind !== 'ok') throw new Error(p.message);
      expect(p.passes[0].inputOptions).toEqual([...GLOBAL, '-ss', '1.5', '-t', '3']);
      expect(p.expectedDurationS).toBe(3);
    });
    it('expected duration is what remains after start when shorter', () => {
      const p = plan('mp3', audio, { start: 8, duration: 5 });
      expect(p).toMatchObject({ kind: 'ok', expectedDurationS: 2 });
      expect(plan('mp3', audio)).toMatchObject({ kind: 'ok', expectedDurationS: 10 });
    });
    it('a start at or past the end is refused as invalid input', () => {
      expect(plan('mp4', video, { start: 10 })).toEqual({
        kind: 'unsupported',
        code: 'invalid_input',
        field: 'options.start',
        message: 'start (10 s) is at or past the end of the input (10.00 s)',
      });
    });
    it('float noise does not reach ffmpeg', () => {
      expect(flagValue(args('wav', audio, { start: 0.1 + 0.2 }), '-ss')).toBe('0.3');
    });
  });

  describe('audio targets', () => {
    it.each([
      ['mp3', 'libmp3lame', 'mp3'],
      ['m4a', 'aac', 'ipod'],
      ['ogg', 'libvorbis', 'ogg'],
      ['opus', 'libopus', 'opus'],
      ['wav', 'pcm_s16le', 'wav'],
      ['flac', 'flac', 'flac'],
    ])('%s uses %s in the %s muxer, audio only', (name, codec, muxer) => {
      const a = args(name, video);
      expect(flagValue(a, '-c:a')).toBe(codec);
      expect(flagValue(a, '-f')).toBe(muxer);
      expect(flagValue(a, '-map')).toBe('0:1');
      expect(a).toContain('-vn');
      expect(a).not.toContain('-c:v');
    });

    it('mp3 exact list with bitrate, channels and sample rate', () => {
      expect(args('mp3', audio, { audio_bitrate: 192, audio_channels: 1, sample_rate: 22050 })).toEqual([
        ...GLOBAL,
        '-i',
        IN,
        '-map',
        '0:0',
        '-vn',
        '-c:a',
        'libmp3lame',
        '-b:a',
        '192k',
        '-ac',
        '1',
        '-ar',
        '22050',
        '-f',
        'mp3',
        OUT,
      ]);
    });

    it('opus picks one Vorbis layout for a channel count (no -ac) and a supported rate', () => {
      const a = args('opus', audio, { audio_channels: 3, sample_rate: 24000 });
      expect(flagValue(a, '-af')).toBe('aformat=channel_layouts=3.0');
      expect(a).not.toContain('-ac');
      expect(flagValue(a, '-ar')).toBe('24000');
    });

    it('opus refuses sample rates libopus cannot encode', () => {
      expect(plan('opus', audio, { sample_rate: 44100 })).toMatchObject({
        kind: 'unsupported',
        code: 'invalid_input',
        field: 'options.sample_rate',
      });
      expect(plan('webm', video, { sample_rate: 22050 })).toMatchObject({ kind: 'unsupported', code: 'invalid_input' });
    });

    it('m4a gets faststart; lossless targets ignore no bitrate because they declare none', () => {
      expect(flagValue(args('m4a', audio), '-movflags')).toBe('+faststart');
      expect(plan('flac', audio, { audio_bitrate: 128 })).toMatchObject({
        kind: 'unsupported',
        code: 'invalid_input',
        field: 'options.audio_bitrate',
      });
    });

    it('audio with cover art maps only the audio stream', () => {
      const withCover: MediaInfo = { ...audio, audio_stream_index: 1 };
      const a = args('ogg', withCover);
      expect(a.filter((x) => x === '-map')).toHaveLength(1);
      expect(flagValue(a, '-map')).toBe('0:1');
      expect(a).toContain('-vn');
    });
  });

  describe('gif', () => {
    it('one pass: fps default 10, split → palettegen → paletteuse', () => {
      const a = args('gif', video, { width: 320 });
      expect(flagValue(a, '-filter_complex')).toBe(
        '[0:0]fps=10,scale=320:-1:flags=lanczos,split[frames][sample];' +
          '[sample]palettegen=stats_mode=diff[palette];' +
          '[frames][palette]paletteuse=dither=bayer:bayer_scale=5:diff_mode=rectangle[gif]',
      );
      expect(flagValue(a, '-map')).toBe('[gif]');
      expect(a).toContain('-an');
      expect(flagValue(a, '-f')).toBe('gif');
    });
    it('from a still image: no fps filter, no trim', () => {
      const p = plan('gif', image, { start: 1, duration: 2 });
      if (p.kind !== 'ok') throw new Error(p.message);
      expect(p.passes[0].inputOptions).toEqual(GLOBAL);
      expect(flagValue(toArgs(p.passes[0]), '-filter_complex')).toMatch(/^\[0:0\]split\[frames\]/);
      expect(p.expectedDurationS).toBeNull();
    });
  });

  describe('image targets', () => {
    it('png from a video: input seek to time, one frame, no audio', () => {
      expect(args('png', video, { time: 1 })).toEqual([
        ...GLOBAL,
        '-ss',
        '1',
        '-i',
        IN,
        '-map',
        '0:0',
        '-frames:v',
        '1',
        '-an',
        '-c:v',
        'png',
        '-f',
        'image2',
        OUT,
      ]);
    });
    it('time defaults to 0 (no seek) and is ignored for still inputs', () => {
      expect(args('bmp', video)).not.toContain('-ss');
      expect(args('bmp', image, { time: 5 })).not.toContain('-ss');
    });
    it('a time past the end grabs a frame just before the end', () => {
      expect(flagValue(args('png', video, { time: 60 }), '-ss')).toBe('9.5');
      expect(args('png', { ...video, duration_s: 0.2 }, { time: 60 })).not.toContain('-ss');
    });
    it('jpg maps quality 1-100 to qscale 31-2; webp passes it through', () => {
      expect(flagValue(args('jpg', image), '-q:v')).toBe(String(jpegQscale(85)));
      expect(jpegQscale(100)).toBe(2);
      expect(jpegQscale(1)).toBe(31);
      expect(jpegQscale(50)).toBe(17);
      expect(flagValue(args('jpg', image), '-c:v')).toBe('mjpeg');
      const webp = args('webp', image, { quality: 60 });
      expect(flagValue(webp, '-c:v')).toBe('libwebp');
      expect(flagValue(webp, '-quality')).toBe('60');
      expect(flagValue(webp, '-f')).toBe('webp');
    });
    it('tiff keeps RGB', () => {
      expect(flagValue(args('tiff', image), '-vf')).toBe('format=pix_fmts=rgb24|rgba');
    });
    it('an image held as cover art is mapped by its index', () => {
      expect(flagValue(args('png', { ...image, video_stream_index: 2 }), '-map')).toBe('0:2');
    });
  });

  describe('unsupported inputs', () => {
    it('audio-only input to a video target', () => {
      const p = plan('mp4', audio);
      expect(p).toMatchObject({ kind: 'unsupported', code: 'unsupported_media_type' });
      if (p.kind === 'unsupported') {
        expect(p.message).toMatch(/^input has no video stream; mp4 needs video/);
        expect(p.message).toContain('mp3, m4a, ogg, opus, wav, flac');
      }
    });
    it('audio-only input to image targets and gif', () => {
      for (const name of ['png', 'jpg', 'gif']) {
        expect(plan(name, audio)).toMatchObject({
          kind: 'unsupported',
          code: 'unsupported_media_type',
          message: expect.stringContaining(`${name} needs video or an image`),
        });
      }
    });
    it('a still image to a video or audio target', () => {
      expect(plan('webm', image)).toMatchObject({
        code: 'unsupported_media_type',
        message: expect.stringMatching(/^input is a still image; webm needs video/),
      });
      expect(plan('wav', image)).toMatchObject({
        code: 'unsupported_media_type',
        message: expect.stringMatching(/^input is a still image; wav needs audio/),
      });
    });
    it('a video without audio to an audio target', () => {
      const p = plan('mp3', silentVideo);
      expect(p).toMatchObject({
        kind: 'unsupported',
        code: 'unsupported_media_type',
        message: expect.stringMatching(/^input has no audio stream; mp3 needs audio/),
      });
      if (p.kind === 'unsupported') expect(p.message).not.toContain('flac');
    });
    it('nothing decodable', () => {
      expect(plan('mp4', { ...video, kind: 'unknown' })).toMatchObject({
        code: 'unsupported_media_type',
        message: 'input has no audio, video or image stream that ffmpeg can decode',
      });
    });
    it('options the catalog refuses (e.g. a queued job from an older catalog)', () => {
      expect(plan('mp4', video, { width: 10 })).toMatchObject({
        kind: 'unsupported',
        code: 'invalid_input',
        field: 'options.width',
      });
      expect(plan('gif', video, { crf: 20 })).toMatchObject({
        kind: 'unsupported',
        code: 'invalid_input',
        field: 'options.crf',
      });
    });
    it('relative paths are a programming error', () => {
      expect(() =>
        buildConversion({ target: target('mp4'), options: {}, input: video, inputPath: 'concat:a|b', outputPath: OUT }),
      ).toThrow(/absolute/);
    });
  });
});
