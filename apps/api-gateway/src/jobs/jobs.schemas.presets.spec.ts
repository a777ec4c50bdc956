// Conversions of the jobs API that name a preset or carry online-convert's `category`: the schema
// leaves a preset's catalog checks to its resolution (PresetsService), requires a target or a preset,
// and accepts a category only when it is the target's own.
import { parseOrThrow } from '../http/validation';
import { createPresetBody } from './presets.schemas';
import { conversionRequest, createJobBody } from './jobs.schemas';
import { expectRefused } from './testing/refusals';

describe('conversions with a preset or a category', () => {
  it('passes a preset reference on, with its overrides, for resolution', () => {
    expect(parseOrThrow(conversionRequest, { preset: 'thumb', options: { width: 32, height: null } })).toEqual({
      preset: 'thumb',
      options: { width: 32, height: null },
    });
    expect(parseOrThrow(createJobBody, { conversion: [{ preset: 'thumb', target: 'png' }] }).conversion).toEqual([
      { preset: 'thumb', target: 'png' },
    ]);
  });

  it('needs a target or a preset, and refuses an empty or over-long preset reference', () => {
    expectRefused(conversionRequest, { options: { width: 32 } }, ['target']);
    expectRefused(createJobBody, { conversion: [{ target: 'png' }, {}] }, ['conversion.1.target']);
    expectRefused(conversionRequest, { preset: '' }, ['preset']);
    expectRefused(conversionRequest, { preset: 'p'.repeat(101) }, ['preset']);
  });

  it('accepts online-convert’s category when it is the target’s, and names it otherwise', () => {
    expect(parseOrThrow(conversionRequest, { target: 'mp3', category: 'audio' })).toEqual({
      target: 'mp3',
      category: 'audio',
    });
    const err = expectRefused(conversionRequest, { target: 'mp3', category: 'video' }, ['category']);
    expect(err.details?.[0].message).toBe('target mp3 is in category audio, not "video"');
  });

  it('checks a preset like a conversion: known target, its options, a name that is not an id', () => {
    expect(parseOrThrow(createPresetBody, { name: ' thumb ', target: 'png', options: { width: 64 } })).toEqual({
      name: 'thumb',
      target: 'png',
      options: { width: 64 },
    });
    expectRefused(createPresetBody, { name: 'x', target: 'png', options: { width: 5 } }, ['options.width']);
    expectRefused(createPresetBody, { name: 'x', target: 'mp3', options: { crf: 20 } }, ['options.crf']);
    expectRefused(createPresetBody, { name: 'x', target: 'nope' }, ['target']);
    expectRefused(createPresetBody, { name: '7c9e6679-7425-40de-944b-e07fc1f90ae7', target: 'png' }, ['name']);
    expectRefused(createPresetBody, { name: 'x\u0000y', target: 'png' }, ['name']);
  });
});
