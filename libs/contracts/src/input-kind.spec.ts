// The pure part of input kinds: heads that real files start with are covered by
// libs/workflow/src/input-kinds.int-spec.ts; here, the cases where text looks like a magic number.
import { detectInputKind } from './input-kind';

const text = (s: string) => new TextEncoder().encode(s);

describe('detectInputKind', () => {
  it('reads text that starts with a magic byte as text, not as media', () => {
    // "G" is MPEG-TS's sync byte; "ID3" and "fLaC" are audio magic only at the very start of a binary file.
    expect(detectInputKind(text('Grüße aus Köln\nzweite Zeile\n'), 'notes.txt')).toEqual({
      kind: 'document',
      format: 'txt',
    });
    expect(detectInputKind(text('G,H\n1,2\n'), 'sheet.csv')).toEqual({ kind: 'spreadsheet', format: 'csv' });
  });

  it('tells MPEG-TS by three sync bytes 188 bytes apart', () => {
    const ts = new Uint8Array(188 * 3);
    for (const at of [0, 188, 376]) ts[at] = 0x47;
    expect(detectInputKind(ts, 'x.bin')).toEqual({ kind: 'video', format: 'mpegts' });
    ts[376] = 0;
    expect(detectInputKind(ts, 'x.bin')).toBeNull();
  });

  it('knows nothing of an empty file, and reads HTML by its start whatever its name', () => {
    expect(detectInputKind(new Uint8Array(0), 'a.txt')).toBeNull();
    expect(detectInputKind(text('\ufeff<!DOCTYPE html><html><body>x</body></html>'), 'a.bin')).toEqual({
      kind: 'document',
      format: 'html',
    });
  });
});
