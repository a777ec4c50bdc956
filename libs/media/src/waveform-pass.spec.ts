// The waveform target's argument list: showwavespic at width × height in the asked colour (repeated
// for every channel when they are drawn apart), the mix downmixed to one band otherwise, one RGBA PNG.
import { GLOBAL, IN, OUT, args, audio, flagValue, plan, silentVideo, video } from './testing/conversion-plans';

describe('waveform', () => {
  it('exact argument list with the catalog defaults (1800×280, blue, one band)', () => {
    expect(args('waveform', audio)).toEqual([
      ...GLOBAL,
      '-i',
      IN,
      '-filter_complex',
      '[0:0]aformat=channel_layouts=mono,showwavespic=s=1800x280:split_channels=0:colors=blue:filter=peak[wave]',
      '-map',
      '[wave]',
      '-frames:v',
      '1',
      '-c:v',
      'png',
      '-pix_fmt',
      'rgba',
      '-f',
      'image2',
      OUT,
    ]);
  });

  it('split_channels draws a band per channel, each in the colour; size and colour from the options', () => {
    const a = args('waveform', video, { split_channels: true, color: 'orange', width: 800, height: 200 });
    expect(flagValue(a, '-filter_complex')).toBe(
      '[0:1]showwavespic=s=800x200:split_channels=1:colors=orange|orange:filter=peak[wave]',
    );
  });

  it('start and duration trim the audio before -i', () => {
    const a = args('waveform', audio, { start: 1, duration: 2 });
    expect(a.slice(0, a.indexOf('-i'))).toEqual([...GLOBAL, '-ss', '1', '-t', '2']);
  });

  it('an input without audio is refused as the audio targets refuse it', () => {
    const p = plan('waveform', silentVideo);
    expect(p).toMatchObject({ kind: 'unsupported', code: 'unsupported_media_type' });
    expect(p.kind === 'unsupported' && p.message).toMatch(/^input has no audio stream; waveform needs audio/);
    // The suggestion lists what the input does fit: neither audio targets nor waveform.
    expect(p.kind === 'unsupported' && p.message).not.toMatch(/converts to: .*(mp3|waveform)/);
  });
});
