// The ffmpeg command builder for video targets: what every catalog target shares (globals, the
// input whitelist, paths), the video encoders' argument lists, scaling and trimming.
import { CATALOG, type TargetSpec } from '@kiln/contracts';
import { isFfmpegTarget, PROBE_ONLY_TARGETS, targetsWithoutRecipe } from './command-builder';
import { GLOBAL, IN, OUT, args, audio, flagValue, image, plan, silentVideo, video } from './testing/conversion-plans';

/** The catalog targets ffmpeg makes with a pass (metadata is written from ffprobe alone). */
const FFMPEG_TARGETS = CATALOG.filter((t) => isFfmpegTarget(t) && !PROBE_ONLY_TARGETS.has(t.target));
/** Of those, the ones whose pass writes one file at the output path (hls writes a folder: hls-passes.spec.ts). */
const SINGLE_FILE_TARGETS = FFMPEG_TARGETS.filter((t) => t.target !== 'hls');
const inputFor = (t: TargetSpec) => (t.category === 'audio' || t.target === 'waveform' ? audio : video);

describe('buildConversion', () => {
  describe('every catalog target ffmpeg makes', () => {
    it('has a recipe', () => {
      expect(targetsWithoutRecipe()).toEqual([]);
    });

    it.each(SINGLE_FILE_TARGETS.map((t) => [t.target, t] as const))(
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
    for (const t of FFMPEG_TARGETS) {
      const a = args(t.target, inputFor(t), {}, { maxPixels: 50_000_000 });
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
});
