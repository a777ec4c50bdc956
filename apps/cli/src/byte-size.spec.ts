import { formatBytes, formatDuration, parseByteSize } from './byte-size';

describe('byte sizes', () => {
  it.each([
    ['1048576', 1048576],
    ['8MiB', 8 * 1024 * 1024],
    ['8M', 8 * 1024 * 1024],
    ['8 mb', 8_000_000],
    ['512k', 512 * 1024],
    ['1.5KiB', 1536],
    ['2GiB', 2 * 1024 ** 3],
  ])('parses %j', (text, n) => {
    expect(parseByteSize(text)).toBe(n);
  });

  it.each(['', 'big', '-1', '5 parsecs', '1e3'])('refuses %j', (text) => {
    expect(parseByteSize(text)).toBeUndefined();
  });

  it('formats bytes and durations for people', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(24 * 1024 * 1024)).toBe('24.0 MiB');
    expect(formatDuration(5)).toBe('5s');
    expect(formatDuration(65)).toBe('1m05s');
    expect(formatDuration(3 * 3600 + 120)).toBe('3h02m');
  });
});
