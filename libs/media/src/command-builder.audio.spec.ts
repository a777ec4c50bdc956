// The ffmpeg command builder for audio targets: encoders, muxers, bitrates, channel layouts,
// sample rates and which stream is mapped.
import type { MediaInfo } from './media-info';
import { GLOBAL, IN, OUT, args, audio, flagValue, plan, video } from './testing/conversion-plans';

describe('buildConversion', () => {
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
});
