// The hls target's argument list: one ffmpeg process, a scaled rendition per asked height no taller
// than the input, H.264 + AAC per rendition with its own ceiling, keyframes forced on segment
// boundaries, and the hls muxer writing `<rendition>/index.m3u8`, its segments and the master.
import { GLOBAL, IN, args, flagValue, plan, silentVideo, video } from './testing/conversion-plans';
import { planRenditions } from './hls-passes';

const DIR = '/work/out';

describe('hls', () => {
  it('exact argument list for the default ladder (360p,720p) of a 1080p input', () => {
    expect(args('hls', video)).toEqual([
      ...GLOBAL,
      '-i',
      IN,
      '-filter_complex',
      '[0:0]split=2[s0][s1];[s0]scale=640:360,setsar=1[v0];[s1]scale=1280:720,setsar=1[v1]',
      '-map',
      '[v0]',
      '-map',
      '0:1',
      '-map',
      '[v1]',
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
      '-maxrate:v:0',
      '1000k',
      '-bufsize:v:0',
      '2000k',
      '-b:a:0',
      '96k',
      '-maxrate:v:1',
      '3000k',
      '-bufsize:v:1',
      '6000k',
      '-b:a:1',
      '128k',
      '-force_key_frames',
      'expr:gte(t,n_forced*6)',
      '-sc_threshold',
      '0',
      '-c:a',
      'aac',
      '-ac',
      '2',
      '-f',
      'hls',
      '-hls_time',
      '6',
      '-hls_playlist_type',
      'vod',
      '-hls_flags',
      'independent_segments',
      '-hls_segment_type',
      'mpegts',
      '-hls_segment_filename',
      `${DIR}/%v/segment_%03d.ts`,
      '-master_pl_name',
      'master.m3u8',
      '-var_stream_map',
      'v:0,a:0,name:360p\tv:1,a:1,name:720p',
      `${DIR}/%v/index.m3u8`,
    ]);
  });

  it('segment_duration sets both the segment length and the forced keyframes', () => {
    const a = args('hls', video, { segment_duration: 2, renditions: '360p' });
    expect(flagValue(a, '-hls_time')).toBe('2');
    expect(flagValue(a, '-force_key_frames')).toBe('expr:gte(t,n_forced*2)');
    expect(flagValue(a, '-var_stream_map')).toBe('v:0,a:0,name:360p');
  });

  it('start and duration trim the input before -i; progress follows the trimmed length', () => {
    const p = plan('hls', video, { start: 2, duration: 3 });
    if (p.kind !== 'ok') throw new Error(p.message);
    const a = p.passes[0].inputOptions;
    expect(a.slice(a.indexOf('-ss'), a.indexOf('-ss') + 2)).toEqual(['-ss', '2']);
    expect(flagValue(a, '-t')).toBe('3');
    expect(p.expectedDurationS).toBe(3);
  });

  it('a silent input gives video-only renditions', () => {
    const a = args('hls', silentVideo, { renditions: '360p,720p' });
    expect(a).toContain('-an');
    expect(a).not.toContain('-c:a');
    expect(a.filter((x) => x === '-map')).toHaveLength(2);
    expect(flagValue(a, '-var_stream_map')).toBe('v:0,name:360p\tv:1,name:720p');
  });

  it('no argument holds a space (fluent-ffmpeg could split it)', () => {
    expect(args('hls', video, { renditions: '360p,720p,1080p' }).filter((x) => x.includes(' '))).toEqual([]);
  });
});

describe('planRenditions', () => {
  const at = (width: number, height: number) => ({ ...video, width, height });

  it('keeps the asked renditions no taller than the input, widths even with its aspect ratio', () => {
    expect(planRenditions('360p,720p,1080p', video).map((r) => [r.name, r.width, r.height])).toEqual([
      ['360p', 640, 360],
      ['720p', 1280, 720],
      ['1080p', 1920, 1080],
    ]);
    expect(planRenditions('360p,720p', at(640, 480)).map((r) => [r.name, r.width, r.height])).toEqual([
      ['360p', 480, 360],
    ]);
    expect(planRenditions('360p,720p,1080p', at(1280, 720)).map((r) => r.name)).toEqual(['360p', '720p']);
  });

  it('always one: an input shorter than every asked rendition keeps its own (even) height', () => {
    expect(planRenditions('720p', at(320, 241)).map((r) => [r.name, r.width, r.height])).toEqual([['240p', 318, 240]]);
    expect(planRenditions('360p,720p', at(320, 240)).map((r) => r.name)).toEqual(['240p']);
  });

  it('an input of unknown size keeps the ladder and lets ffmpeg keep the aspect ratio', () => {
    const [r] = planRenditions('360p', { ...video, width: null, height: null });
    expect(r).toMatchObject({ name: '360p', width: null, height: 360 });
    expect(
      flagValue(args('hls', { ...video, width: null, height: null }, { renditions: '360p' }), '-filter_complex'),
    ).toBe('[0:0]split=1[s0];[s0]scale=-2:360,setsar=1[v0]');
  });
});
