import { KilnError } from '@kiln/contracts';
import { parseOrThrow } from '../http/validation';
import { latestOutputQuery, waitQuery } from './job-wait.schemas';

const refusal = (schema: typeof waitQuery | typeof latestOutputQuery, query: unknown) => {
  try {
    parseOrThrow(schema, query, 'query');
  } catch (err: unknown) {
    if (err instanceof KilnError)
      return { status: err.status, code: err.code, fields: err.details?.map((d) => d.field) };
    throw err;
  }
  return null;
};

describe('the wait query', () => {
  it.each([
    [{}, undefined],
    [{ wait: '0' }, 0],
    [{ wait: '1' }, 1],
    [{ wait: '300' }, 300],
    [{ wait: '060' }, 60],
    [{ wait: '5', other: 'ignored' }, 5],
  ])('%j waits %p seconds', (query, seconds) => {
    expect(parseOrThrow(waitQuery, query, 'query').wait).toBe(seconds);
  });

  it.each(['301', '999', '1000', '-1', '1.5', 'abc', '', ' 5', '1e2', '0x10', 'Infinity'])(
    'refuses wait=%j: 400 invalid_input naming wait',
    (wait) => {
      expect(refusal(waitQuery, { wait })).toEqual({ status: 400, code: 'invalid_input', fields: ['wait'] });
    },
  );

  it('refuses wait given twice', () => {
    expect(refusal(waitQuery, { wait: ['1', '2'] })).toEqual({ status: 400, code: 'invalid_input', fields: ['wait'] });
  });

  it('output/latest: redirect is true or false, with the same wait', () => {
    expect(parseOrThrow(latestOutputQuery, { redirect: 'true', wait: '10' }, 'query')).toEqual({
      redirect: 'true',
      wait: 10,
    });
    expect(parseOrThrow(latestOutputQuery, {}, 'query')).toEqual({});
    expect(refusal(latestOutputQuery, { redirect: '1' })).toEqual({
      status: 400,
      code: 'invalid_input',
      fields: ['redirect'],
    });
    expect(refusal(latestOutputQuery, { redirect: 'true', wait: '301' })).toEqual({
      status: 400,
      code: 'invalid_input',
      fields: ['wait'],
    });
  });
});
