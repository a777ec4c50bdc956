import { renderTable, shortTime } from './table';

describe('renderTable', () => {
  it('pads columns to their widest cell and trims line ends', () => {
    expect(
      renderTable(
        ['ID', 'STATUS', 'TAG'],
        [
          ['a', 'completed', ''],
          ['bbbb', 'failed', 'x'],
        ],
      ),
    ).toBe(['ID    STATUS     TAG', 'a     completed', 'bbbb  failed     x', ''].join('\n'));
  });

  it('prints times in UTC to the second', () => {
    expect(shortTime('2026-11-24T19:41:05.123Z')).toBe('2026-11-24 19:41:05Z');
    expect(shortTime(null)).toBe('-');
  });
});
