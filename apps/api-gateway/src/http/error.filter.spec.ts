import { toKilnError } from './error.filter';

describe('toKilnError', () => {
  it('maps a value the database refused (SQLSTATE class 22, Prisma value errors) to 400, never 500', () => {
    for (const err of [
      Object.assign(new Error('invalid byte sequence for encoding "UTF8": 0x00'), { code: '22021' }),
      Object.assign(new Error('value out of range'), { code: 'P2033' }),
      Object.assign(new Error('driver adapter error'), { cause: { originalCode: '22P05' } }),
    ]) {
      expect(toKilnError(err)).toMatchObject({ code: 'invalid_input', status: 400 });
    }
  });

  it('keeps outages as 503 and anything else as 500', () => {
    expect(toKilnError(Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }))).toMatchObject({
      code: 'unavailable',
      status: 503,
    });
    expect(toKilnError(Object.assign(new Error('syntax'), { code: '42601' }))).toMatchObject({
      code: 'internal',
      status: 500,
    });
    expect(toKilnError(new Error('bug'))).toMatchObject({ code: 'internal', status: 500 });
  });
});
