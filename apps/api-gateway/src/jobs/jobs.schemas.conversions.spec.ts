// The conversion specs of the jobs API (shared/design/API.md): each bad one is refused twice, as the body
// of POST /v1/jobs/{id}/conversions (field `options.x`) and inside POST /v1/jobs (field
// `conversion.<i>.options.x`), with a 400 `invalid_input` naming the exact field; the catalog's
// boundaries, sample rates and targets are accepted.
import { CATALOG, findTarget } from '@kiln/contracts';
import { parseOrThrow } from '../http/validation';
import { conversionSpec, createJobBody } from './jobs.schemas';
import { type Options, conv, expectRefused, refusal } from './testing/refusals';
import { badConversions } from './testing/bad-job-requests';

describe('conversion specs', () => {
  describe.each(badConversions)('refuses: $why', ({ spec, fields }) => {
    it('as POST /v1/jobs/{id}/conversions', () => {
      expectRefused(conversionSpec, spec, fields);
    });

    it('inside POST /v1/jobs (conversion.0.*)', () => {
      expectRefused(
        createJobBody,
        { conversion: [spec] },
        fields.map((f) => `conversion.0.${f}`),
      );
    });
  });

  it('names the index of the bad conversion among good ones', () => {
    const err = expectRefused(
      createJobBody,
      {
        conversion: [
          conv('mp4', { width: 640 }),
          conv('mp3'),
          conv('mp4', { width: 640.5 }),
          conv('webm', { sample_rate: 44100 }),
        ],
      },
      ['conversion.2.options.width', 'conversion.3.options.sample_rate'],
    );
    expect(err.details?.[0].message).toMatch(/whole number/);
    expect(err.details?.[1].message).toMatch(/8000, 12000, 16000, 24000, 48000/);
  });

  it('says what is wrong in the detail messages', () => {
    expect(refusal(conversionSpec, conv('xyz')).details).toEqual([
      { field: 'target', message: expect.stringContaining('unknown target "xyz"') },
    ]);
    expect(refusal(conversionSpec, conv('mp3', { crf: 20 })).details).toEqual([
      { field: 'options.crf', message: expect.stringContaining('unknown option for target mp3') },
    ]);
    expect(refusal(conversionSpec, conv('mp4', { width: 15 })).details).toEqual([
      { field: 'options.width', message: 'must be between 16 and 7680' },
    ]);
    expect(refusal(conversionSpec, conv('mp4', { crf: 23, video_bitrate: 2000 })).details).toEqual([
      { field: 'options.crf', message: expect.stringMatching(/crf or video_bitrate/) },
    ]);
  });

  describe('option names inherited from Object.prototype are unknown options', () => {
    // A plain `spec.options[name]` lookup finds Object.prototype members: these must still be refused.
    it.each(['toString', 'constructor', 'hasOwnProperty', 'valueOf', 'isPrototypeOf'])(
      'refuses options.%s on mp4',
      (name) => {
        expectRefused(conversionSpec, conv('mp4', { [name]: 1 }), [`options.${name}`]);
        expectRefused(createJobBody, { conversion: [conv('mp4', { [name]: 1 })] }, [`conversion.0.options.${name}`]);
      },
    );
  });

  describe('accepts', () => {
    // The boundaries stated above are the catalog's: min and max themselves are valid.
    const boundaries: [target: string, option: string, min: number, max: number][] = [
      ['mp4', 'width', 16, 7680],
      ['mp4', 'height', 16, 4320],
      ['mp4', 'fps', 1, 120],
      ['mp4', 'audio_bitrate', 32, 512],
      ['mp4', 'video_bitrate', 64, 50000],
      ['mp4', 'crf', 0, 51],
      ['webm', 'crf', 0, 63],
      ['mp4', 'start', 0, 86400],
      ['mp4', 'duration', 0.01, 86400],
      ['jpg', 'quality', 1, 100],
      ['png', 'time', 0, 86400],
      ['wav', 'audio_channels', 1, 8],
      ['mp3', 'audio_channels', 1, 2],
    ];

    it.each(boundaries)('%s %s at %d and %d', (target, option, min, max) => {
      const spec = findTarget(target)?.options[option];
      expect(spec).toMatchObject({ min, max });
      for (const v of [min, max]) {
        expect(parseOrThrow(conversionSpec, conv(target, { [option]: v }))).toEqual({
          target,
          options: { [option]: v },
        });
      }
    });

    it('every sample rate of each target list', () => {
      for (const t of CATALOG) {
        const sr = t.options.sample_rate;
        if (sr?.type !== 'enum') continue;
        for (const v of sr.values)
          expect(() => parseOrThrow(conversionSpec, conv(t.target, { sample_rate: v }))).not.toThrow();
      }
      expect(findTarget('webm')?.options.sample_rate).toMatchObject({ values: [8000, 12000, 16000, 24000, 48000] });
      expect(findTarget('opus')?.options.sample_rate).toMatchObject({ values: [8000, 12000, 16000, 24000, 48000] });
      expect(() => parseOrThrow(conversionSpec, conv('opus', { sample_rate: 12000 }))).not.toThrow();
    });

    it('every catalog target without options, with empty options, and a full option set', () => {
      for (const t of CATALOG) {
        expect(parseOrThrow(conversionSpec, conv(t.target))).toEqual({ target: t.target });
        expect(parseOrThrow(conversionSpec, conv(t.target, {}))).toEqual({ target: t.target, options: {} });
      }
      const options: Options = {
        width: 1280,
        height: 720,
        fps: 29.97,
        video_bitrate: 2500,
        audio_bitrate: 128,
        start: 1.5,
        duration: 10,
        audio_channels: 2,
        sample_rate: 48000,
      };
      expect(parseOrThrow(conversionSpec, conv('mp4', options))).toEqual({ target: 'mp4', options });
    });
  });
});
