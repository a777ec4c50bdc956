import { parseByteSize } from './byte-size';

describe('parseByteSize', () => {
  it.each([
    ['1048576', 1048576],
    ['0', 0],
    ['512B', 512],
    // IEC units are binary.
    ['64KiB', 64 * 1024],
    ['8MiB', 8 * 1024 ** 2],
    ['10GiB', 10 * 1024 ** 3],
    ['2TiB', 2 * 1024 ** 4],
    // SI units are decimal.
    ['500kB', 500_000],
    ['8 MB', 8_000_000],
    ['10GB', 10_000_000_000],
    ['1TB', 1e12],
    // A bare letter is binary (curl, docker).
    ['512k', 512 * 1024],
    ['8M', 8 * 1024 ** 2],
    ['2g', 2 * 1024 ** 3],
    ['1T', 1024 ** 4],
    // Case, spaces and fractions.
    ['256kib', 256 * 1024],
    ['16 mib', 16 * 1024 ** 2],
    [' 4GiB ', 4 * 1024 ** 3],
    ['1.5KiB', 1536],
    ['1.5', 1],
    ['0.5MB', 500_000],
  ])('reads %j as %d bytes', (text, bytes) => {
    expect(parseByteSize(text)).toBe(bytes);
  });

  it.each([
    '',
    ' ',
    'big',
    'MiB',
    '-1',
    '+1',
    '1e3',
    '0x10',
    '1.',
    '.5',
    '1.2.3',
    '5 parsecs',
    '5 KiBs',
    '5 Kibit',
    '1,000',
    '1_000',
    '8 M B',
    'Infinity',
    'NaN',
  ])('refuses %j', (text) => {
    expect(parseByteSize(text)).toBeUndefined();
  });

  it('refuses a size beyond the largest safe integer, accepts the largest one', () => {
    expect(parseByteSize(String(Number.MAX_SAFE_INTEGER))).toBe(Number.MAX_SAFE_INTEGER);
    expect(parseByteSize('9007199254740993')).toBeUndefined();
    expect(parseByteSize('8191TiB')).toBe(8191 * 1024 ** 4);
    expect(parseByteSize('8192TiB')).toBeUndefined();
  });
});
