// The request bodies of the jobs API (shared/design/API.md): what the gateway refuses, and how it
// says so. Every refusal is a 400 `invalid_input` KilnError whose `details` name the exact field
// (a dotted path into the body: `conversion.0.options.width`, `input.1.source`, `colour`).
// Conversions and inputs are checked beside this file (jobs.schemas.conversions.spec.ts,
// jobs.schemas.inputs.spec.ts); here the rest of POST /v1/jobs, PATCH /v1/jobs/{id} and GET /v1/jobs?...
import { parseOrThrow } from '../http/validation';
import { createJobBody, listJobsQuery, patchJobBody } from './jobs.schemas';
import { conv, expectRefused, refusal } from './testing/refusals';
import {
  badConversions,
  badInputs,
  badJobBodies,
  badListQueries,
  badPatchBodies,
  manyConversions,
  manyInputs,
} from './testing/bad-job-requests';

describe('POST /v1/jobs body', () => {
  it.each(badJobBodies)('refuses: $why', ({ body, fields }) => {
    expectRefused(createJobBody, body, fields);
  });

  it('names an unknown top-level field with the message "unknown field"', () => {
    expect(refusal(createJobBody, { colour: 'red' }).details).toEqual([{ field: 'colour', message: 'unknown field' }]);
  });

  it('applies defaults to an empty or missing body', () => {
    for (const body of [{}, undefined, null]) {
      expect(parseOrThrow(createJobBody, body)).toEqual({ process: true, input: [], conversion: [] });
    }
  });

  it('accepts a full body as is', () => {
    const body = {
      process: false,
      input: [
        { type: 'remote', source: 'https://example.com/in.mov', filename: 'in.mov' },
        { type: 'upload', filename: 'b.wav', size: 1024 },
      ],
      conversion: [
        conv('mp4', { width: 1280, crf: 20 }),
        conv('mp3', { audio_bitrate: 192, sample_rate: 44100 }),
        conv('webm', { sample_rate: 48000, video_bitrate: 1000 }),
      ],
      callback: 'https://hooks.example.com/kiln?x=1',
      tag: 'a'.repeat(255),
    };
    expect(parseOrThrow(createJobBody, body)).toEqual(body);
  });

  it('fills the arrays in when only some fields are given', () => {
    expect(parseOrThrow(createJobBody, { callback: 'http://127.0.0.1:8080/hook' })).toEqual({
      process: true,
      input: [],
      conversion: [],
      callback: 'http://127.0.0.1:8080/hook',
    });
    expect(parseOrThrow(createJobBody, { conversion: [conv('png', { time: 3 })] })).toEqual({
      process: true,
      input: [],
      conversion: [conv('png', { time: 3 })],
    });
  });

  it('accepts exactly 20 conversions and 100 inputs', () => {
    const r = parseOrThrow(createJobBody, { conversion: manyConversions(20), input: manyInputs(100) });
    expect(r.conversion).toHaveLength(20);
    expect(r.input).toHaveLength(100);
  });
});

describe('PATCH /v1/jobs/{id} body', () => {
  it.each(badPatchBodies)('refuses: $why', ({ body, fields }) => {
    expectRefused(patchJobBody, body, fields);
  });

  it('says why process: false is refused', () => {
    expect(refusal(patchJobBody, { process: false }).details).toEqual([
      { field: 'process', message: 'only process: true can be set' },
    ]);
  });

  it('accepts an empty body, process: true, a callback and a tag', () => {
    expect(parseOrThrow(patchJobBody, {})).toEqual({});
    expect(parseOrThrow(patchJobBody, undefined)).toEqual({});
    expect(parseOrThrow(patchJobBody, { process: true, callback: 'https://example.com/h', tag: 'x' })).toEqual({
      process: true,
      callback: 'https://example.com/h',
      tag: 'x',
    });
  });
});

describe('GET /v1/jobs query', () => {
  it.each(badListQueries)('refuses: $why', ({ query, fields }) => {
    expectRefused(listJobsQuery, query, fields, 'query');
  });

  it('applies the default limit and coerces the query string', () => {
    expect(parseOrThrow(listJobsQuery, {}, 'query')).toEqual({ limit: 20 });
    expect(parseOrThrow(listJobsQuery, { limit: '1' }, 'query')).toEqual({ limit: 1 });
    expect(
      parseOrThrow(listJobsQuery, { limit: '100', status: 'completed', cursor: 'c'.repeat(200) }, 'query'),
    ).toEqual({
      limit: 100,
      status: 'completed',
      cursor: 'c'.repeat(200),
    });
    for (const status of ['incomplete', 'queued', 'downloading', 'processing', 'completed', 'failed', 'canceled']) {
      expect(parseOrThrow(listJobsQuery, { status }, 'query')).toEqual({ status, limit: 20 });
    }
  });
});

it('covers at least 20 bad bodies', () => {
  expect(
    badConversions.length + badInputs.length + badJobBodies.length + badPatchBodies.length + badListQueries.length,
  ).toBeGreaterThanOrEqual(20);
});
