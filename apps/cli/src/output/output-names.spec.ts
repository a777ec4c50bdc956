import { outputNames, safeName } from './output-names';

describe('output names', () => {
  it("keeps the server's file name but never a path", () => {
    expect(safeName('tone.mp3', 'x')).toBe('tone.mp3');
    expect(safeName('../../etc/passwd', 'x')).toBe('passwd');
    expect(safeName('a\\b\\c.png', 'x')).toBe('c.png');
    expect(safeName('..', 'fallback')).toBe('fallback');
    expect(safeName(null, 'fallback')).toBe('fallback');
  });

  it('makes repeated names unique within one download', () => {
    expect(
      outputNames([
        { id: '1', filename: 'tone.mp3' },
        { id: '2', filename: 'tone.mp3' },
        { id: '3', filename: 'TONE.mp3' },
        { id: '4', filename: null },
      ]),
    ).toEqual(['tone.mp3', 'tone-2.mp3', 'TONE-3.mp3', 'output-4']);
  });
});
