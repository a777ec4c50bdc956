import fc from 'fast-check';
import { objectKeys, parseObjectKey } from '@kiln/storage';
import { KilnError } from './errors';
import { FILENAME_MAX_BYTES, headerFilename, isKeyFilename, parseFilename, safeFilename } from './filename';

/** Strings made of the characters that break file names, mixed with ordinary and wide ones, long enough to cross 255 bytes. */
const tricky = fc.constantFrom(
  '\u0000',
  '\r',
  '\n',
  '\t',
  '\u007f',
  '\u0085',
  '\u200b',
  '\u202e',
  '\ufeff',
  '\u2028',
  '\ud800',
  '\udfff',
  '/',
  '\\',
  '.',
  '..',
  ' ',
  '\u00a0',
  'a',
  'Z',
  '9',
  'é',
  '€',
  '😀',
  '%00',
  '"',
  '?',
  '#',
);
const nasty = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.string({ unit: tricky, maxLength: 200 }),
  fc.string({ unit: fc.constantFrom('😀', 'é', 'a', '.'), minLength: 60, maxLength: 300 }),
  fc.string({ maxLength: 40 }),
);

function outcome(fn: () => string): { name: string } | { refused: KilnError } {
  try {
    return { name: fn() };
  } catch (err: unknown) {
    if (err instanceof KilnError) return { refused: err };
    throw err; // anything else fails the property
  }
}

describe('parseFilename (names a client states)', () => {
  it('any string is either a clean name or a 400 invalid_input naming the field, never another error; and idempotent', () => {
    fc.assert(
      fc.property(nasty, (raw) => {
        const r = outcome(() => parseFilename(raw, 'input.0.filename'));
        if ('refused' in r) {
          expect(r.refused.code).toBe('invalid_input');
          expect(r.refused.status).toBe(400);
          expect(r.refused.details?.[0]?.field).toBe('input.0.filename');
          return;
        }
        expect(isKeyFilename(r.name)).toBe(true);
        expect(Buffer.byteLength(r.name, 'utf8')).toBeLessThanOrEqual(FILENAME_MAX_BYTES);
        expect(parseFilename(r.name, 'f')).toBe(r.name);
        expect(r.name).toBe(raw.trim());
      }),
      { numRuns: 3000 },
    );
  });

  it('takes a name of the alphabet exactly as it is', () => {
    fc.assert(
      fc.property(nasty.filter(isKeyFilename), (name) => {
        expect(parseFilename(name, 'f')).toBe(name);
        expect(safeFilename(name)).toBe(name);
      }),
    );
  });

  it.each([
    ['a\u0000.mp4', /control/],
    ['clip.mp4\r\nX-Injected: 1', /control/],
    ['clip.mp4\n', /control/],
    ['\tclip.mp4', /control/],
    ['right\u202egpj.exe', /control or format/],
    ['../../etc/passwd', /not a path/],
    ['/etc/passwd', /not a path/],
    ['C:\\Users\\me\\clip.mp4', /not a path/],
    ['..', /\. or \.\./],
    ['.', /\. or \.\./],
    ['', /empty/],
    ['   ', /empty/],
    ['x'.repeat(10 * 1024), /at most 255 bytes/],
    ['é'.repeat(128), /at most 255 bytes/], // 256 bytes in 128 characters
  ])('refuses %j', (raw, message) => {
    let thrown: unknown;
    try {
      parseFilename(raw, 'filename');
    } catch (err: unknown) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(KilnError);
    expect((thrown as KilnError).code).toBe('invalid_input');
    expect((thrown as KilnError).details).toEqual([{ field: 'filename', message: expect.stringMatching(message) }]);
  });

  it.each([
    ['clip.mp4', 'clip.mp4'],
    ['  My Movie (final) #2.mov  ', 'My Movie (final) #2.mov'],
    ['€ rates 100%.mp4', '€ rates 100%.mp4'],
    ['.hidden', '.hidden'],
    [`${'é'.repeat(127)}a`, `${'é'.repeat(127)}a`], // 255 bytes
  ])('accepts %j as %j', (raw, name) => {
    expect(parseFilename(raw, 'filename')).toBe(name);
  });
});

describe('safeFilename (names Kiln derives: remote servers, URLs, outputs)', () => {
  it('cleans any string into a name of the alphabet (or the fallback), never throws, and is idempotent', () => {
    fc.assert(
      fc.property(nasty, (raw) => {
        const name = safeFilename(raw);
        expect(isKeyFilename(name)).toBe(true);
        expect(safeFilename(name)).toBe(name);
        const bare = safeFilename(raw, '');
        expect(bare === '' || isKeyFilename(bare)).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('always makes a valid object key', () => {
    const job = '0b6f2f5e-8a43-4d1c-9c1e-4f1e2d3c4b5a';
    const input = '7c9e6679-7425-40de-944b-e07fc1f90ae7';
    fc.assert(
      fc.property(nasty, fc.nat({ max: 1000 }), (raw, attempt) => {
        const name = safeFilename(raw);
        expect(parseObjectKey(objectKeys.input(job, input, name))).toEqual({
          kind: 'input',
          jobId: job,
          inputId: input,
          filename: name,
        });
        expect(parseObjectKey(objectKeys.output(job, input, attempt, name))).toEqual({
          kind: 'output',
          jobId: job,
          outputId: input,
          attempt,
          filename: name,
        });
      }),
    );
  });

  it.each([
    ['../../etc/passwd', 'passwd'],
    ['a\u0000b.mp4', 'ab.mp4'],
    ['clip.mp4\r\n', 'clip.mp4'],
    ['..', 'file'],
    ['/', 'file'],
    [undefined, 'file'],
    ['C:\\fakepath\\clip.mov', 'clip.mov'],
  ])('cleans %j to %j', (raw, name) => {
    expect(safeFilename(raw)).toBe(name);
  });

  it('shortens a long name to 255 bytes, keeping its extension', () => {
    const long = safeFilename(`${'😀'.repeat(100)}.mp4`);
    expect(Buffer.byteLength(long, 'utf8')).toBeLessThanOrEqual(255);
    expect(long.endsWith('😀.mp4')).toBe(true);
    expect(safeFilename('x'.repeat(10_000))).toBe('x'.repeat(255));
  });
});

describe('headerFilename', () => {
  it('percent-decodes, and keeps a value that is not valid percent-encoding', () => {
    expect(headerFilename('caf%C3%A9.mp4')).toBe('café.mp4');
    expect(headerFilename('a%00b')).toBe('a\u0000b'); // then refused by parseFilename
    expect(headerFilename('100%.mp4')).toBe('100%.mp4');
  });
});
