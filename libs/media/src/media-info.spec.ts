import { normaliseProbe, type FfprobeJson, type FfprobeStream } from './media-info';

// Trimmed from real `ffprobe -v error -print_format json -show_format -show_streams` output (ffmpeg 5.1).
const h264: FfprobeStream = {
  index: 0,
  codec_name: 'h264',
  codec_type: 'video',
  width: 320,
  height: 240,
  r_frame_rate: '25/1',
  avg_frame_rate: '25/1',
  duration: '2.000000',
  nb_frames: '50',
  disposition: { default: 1, attached_pic: 0 },
};
const aac: FfprobeStream = {
  index: 1,
  codec_name: 'aac',
  codec_type: 'audio',
  sample_rate: '44100',
  channels: 2,
  r_frame_rate: '0/0',
  avg_frame_rate: '0/0',
  duration: '2.000000',
  nb_frames: '88',
  disposition: { default: 1, attached_pic: 0 },
};
const coverArt: FfprobeStream = {
  index: 1,
  codec_name: 'mjpeg',
  codec_type: 'video',
  width: 500,
  height: 500,
  r_frame_rate: '90000/1',
  avg_frame_rate: '0/0',
  duration: '2.037556',
  disposition: { default: 0, attached_pic: 1 },
};

const mp4: FfprobeJson = {
  streams: [h264, aac],
  format: { format_name: 'mov,mp4,m4a,3gp,3g2,mj2', duration: '2.000000', size: '54823', bit_rate: '219292' },
};

describe('normaliseProbe', () => {
  it('reads a video with audio', () => {
    expect(normaliseProbe(mp4)).toEqual({
      format: 'mov,mp4,m4a,3gp,3g2,mj2',
      duration_s: 2,
      size_bytes: 54823,
      bit_rate: 219292,
      kind: 'video',
      width: 320,
      height: 240,
      fps: 25,
      video_codec: 'h264',
      audio_codec: 'aac',
      audio_channels: 2,
      sample_rate: 44100,
      streams: { video: 1, audio: 1 },
      video_stream_index: 0,
      audio_stream_index: 1,
    });
  });

  it('reads a video without audio', () => {
    const info = normaliseProbe({ ...mp4, streams: [h264] });
    expect(info).toMatchObject({ kind: 'video', audio_codec: null, audio_channels: null, sample_rate: null });
    expect(info.streams).toEqual({ video: 1, audio: 0 });
  });

  it('reads NTSC frame rates and numbers given as numbers', () => {
    const info = normaliseProbe({
      streams: [{ ...h264, avg_frame_rate: '30000/1001' }],
      format: { format_name: 'matroska,webm', duration: 12.5, size: 1000 },
    });
    expect(info.fps).toBe(29.97);
    expect(info.duration_s).toBe(12.5);
  });

  it('reports the displayed size of a video rotated by 90°', () => {
    const rotated = { ...h264, side_data_list: [{ side_data_type: 'Display Matrix', rotation: -90 }] };
    expect(normaliseProbe({ ...mp4, streams: [rotated, aac] })).toMatchObject({ width: 240, height: 320 });
    const tagged = { ...h264, tags: { rotate: '270' } };
    expect(normaliseProbe({ ...mp4, streams: [tagged] })).toMatchObject({ width: 240, height: 320 });
  });

  it('treats an mp3 with cover art as audio', () => {
    const info = normaliseProbe({
      streams: [
        { ...aac, index: 0, codec_name: 'mp3', channels: 1, nb_frames: undefined, duration: '2.037551' },
        coverArt,
      ],
      format: { format_name: 'mp3', duration: '2.037551', size: '25610', bit_rate: '100552' },
    });
    expect(info).toMatchObject({
      kind: 'audio',
      audio_codec: 'mp3',
      audio_channels: 1,
      duration_s: 2.037551,
      width: null,
      height: null,
      fps: null,
      video_codec: null,
      streams: { video: 0, audio: 1 },
      audio_stream_index: 0,
      video_stream_index: null,
    });
  });

  it('treats a wav as audio', () => {
    const info = normaliseProbe({
      streams: [
        {
          index: 0,
          codec_name: 'pcm_s16le',
          codec_type: 'audio',
          sample_rate: '48000',
          channels: 1,
          duration: '2.000000',
        },
      ],
      format: { format_name: 'wav', duration: '2.000000', size: '192078', bit_rate: '768312' },
    });
    expect(info).toMatchObject({ kind: 'audio', sample_rate: 48000, audio_channels: 1, duration_s: 2 });
  });

  it.each([
    ['png_pipe', 'png'],
    ['jpeg_pipe', 'mjpeg'],
    ['webp_pipe', 'webp'],
    ['bmp_pipe', 'bmp'],
    ['tiff_pipe', 'tiff'],
    ['image2', 'mjpeg'],
  ])('treats %s (%s) as a still image without duration or fps', (format, codec) => {
    const info = normaliseProbe({
      streams: [
        {
          index: 0,
          codec_name: codec,
          codec_type: 'video',
          width: 640,
          height: 480,
          r_frame_rate: '25/1',
          avg_frame_rate: '25/1',
          duration: '0.040000',
        },
      ],
      format: { format_name: format, duration: '0.040000', size: '9059' },
    });
    expect(info).toMatchObject({
      kind: 'image',
      width: 640,
      height: 480,
      duration_s: null,
      fps: null,
      video_codec: codec,
    });
    expect(info.streams).toEqual({ video: 1, audio: 0 });
    expect(info.video_stream_index).toBe(0);
  });

  it('treats an animated gif as video and a one-frame gif as an image', () => {
    const gif = (frames: string): FfprobeJson => ({
      streams: [
        {
          index: 0,
          codec_name: 'gif',
          codec_type: 'video',
          width: 320,
          height: 240,
          avg_frame_rate: '10/1',
          nb_frames: frames,
          duration: '1.000000',
        },
      ],
      format: { format_name: 'gif', duration: '1.000000' },
    });
    expect(normaliseProbe(gif('10'))).toMatchObject({ kind: 'video', fps: 10, duration_s: 1 });
    expect(normaliseProbe(gif('1'))).toMatchObject({ kind: 'image', fps: null, duration_s: null });
  });

  it('treats a one-frame png inside a container as an image', () => {
    const info = normaliseProbe({
      streams: [
        {
          index: 0,
          codec_name: 'png',
          codec_type: 'video',
          width: 64,
          height: 64,
          nb_frames: '1',
          avg_frame_rate: '1/1',
        },
      ],
      format: { format_name: 'matroska,webm' },
    });
    expect(info.kind).toBe('image');
  });

  it('treats a file holding only cover art as an image of that cover', () => {
    const info = normaliseProbe({ streams: [{ ...coverArt, index: 0 }], format: { format_name: 'mp3' } });
    expect(info).toMatchObject({
      kind: 'image',
      width: 500,
      height: 500,
      video_stream_index: 0,
      streams: { video: 0, audio: 0 },
    });
  });

  it('picks the real video over cover art that comes first', () => {
    const info = normaliseProbe({
      ...mp4,
      streams: [
        { ...coverArt, index: 0 },
        { ...h264, index: 1 },
        { ...aac, index: 2 },
      ],
    });
    expect(info).toMatchObject({ kind: 'video', video_codec: 'h264', video_stream_index: 1, audio_stream_index: 2 });
  });

  it('says unknown for subtitles only, no streams, or undecodable streams', () => {
    const srt = normaliseProbe({
      streams: [{ index: 0, codec_name: 'subrip', codec_type: 'subtitle' }],
      format: { format_name: 'srt' },
    });
    expect(srt).toMatchObject({
      kind: 'unknown',
      streams: { video: 0, audio: 0 },
      video_codec: null,
      audio_codec: null,
    });
    expect(normaliseProbe({}).kind).toBe('unknown');
    expect(
      normaliseProbe({
        streams: [{ index: 0, codec_type: 'video', width: 10, height: 10 }],
        format: { format_name: 'avi' },
      }).kind,
    ).toBe('unknown');
  });

  it('refuses playlists and other containers that point at other files', () => {
    for (const format of ['hls', 'concat', 'tty']) {
      const info = normaliseProbe({ ...mp4, format: { format_name: format, duration: '2.0' } });
      expect(info).toMatchObject({ kind: 'unknown', streams: { video: 0, audio: 0 }, audio_codec: null });
    }
  });

  it('turns N/A and missing numbers into null', () => {
    const info = normaliseProbe({
      streams: [{ ...h264, avg_frame_rate: '0/0', r_frame_rate: '0/0', duration: 'N/A' }],
      format: { format_name: 'mpegts', duration: 'N/A', bit_rate: 'N/A' },
    });
    expect(info).toMatchObject({ kind: 'video', duration_s: null, bit_rate: null, size_bytes: null, fps: null });
  });
});
