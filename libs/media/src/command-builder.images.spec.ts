// The ffmpeg command builder for gif and still-image targets: palettes, frame grabs, seeking and
// image quality.
import { jpegQscale, toArgs } from './command-builder';
import { GLOBAL, IN, OUT, args, flagValue, image, plan, video } from './testing/conversion-plans';

describe('buildConversion', () => {
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
});
