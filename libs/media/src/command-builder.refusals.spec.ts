// The ffmpeg command builder refusing what it cannot convert: inputs without the streams a target
// needs, options the catalog refuses, and relative paths.
import { buildConversion } from './command-builder';
import { OUT, audio, image, plan, silentVideo, target, video } from './testing/conversion-plans';

describe('buildConversion', () => {
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
