import fc from 'fast-check';
import { filenameProblem } from '@kiln/contracts';
import { KILN_KEY_PREFIXES, ObjectKeyError, objectKeys, parseObjectKey } from './object-keys';

const job = '0b6f2f5e-8a43-4d1c-9c1e-4f1e2d3c4b5a';
const other = '7c9e6679-7425-40de-944b-e07fc1f90ae7';

describe('object keys', () => {
  it('builds the layout', () => {
    expect(objectKeys.input(job, other, 'clip.mp4')).toBe(`inputs/${job}/${other}/clip.mp4`);
    expect(objectKeys.output(job, other, 2, 'clip.mp3')).toBe(`outputs/${job}/${other}/2/clip.mp3`);
    expect(objectKeys.upload(other, 'film.mov')).toBe(`uploads/${other}/film.mov`);
    expect(objectKeys.assembledUpload(other, 'film.mov')).toBe(`uploads/${other}/assembled/film.mov`);
    expect(objectKeys.chunk(other, 0, 99, 'ab12cd34')).toBe(`chunks/${other}/0-99.ab12cd34`);
    expect(objectKeys.chunk(other, 5, 9)).toMatch(new RegExp(`^chunks/${other}/5-9\\.[0-9a-f]{8}$`));
    expect([
      objectKeys.jobInputs(job),
      objectKeys.jobOutputs(job),
      objectKeys.uploadFiles(other),
      objectKeys.uploadChunks(other),
    ]).toEqual([`inputs/${job}/`, `outputs/${job}/`, `uploads/${other}/`, `chunks/${other}/`]);
  });

  it('starts every key it builds with one of KILN_KEY_PREFIXES, each a different one', () => {
    const built = [
      objectKeys.input(job, other, 'a.mp4'),
      objectKeys.output(job, other, 0, 'a.mp3'),
      objectKeys.upload(other, 'a.mov'),
      objectKeys.assembledUpload(other, 'a.mov'),
      objectKeys.chunk(other, 0, 9),
    ];
    const prefixOf = (key: string) => KILN_KEY_PREFIXES.filter((p) => key.startsWith(p));
    expect(built.map(prefixOf)).toEqual([['inputs/'], ['outputs/'], ['uploads/'], ['uploads/'], ['chunks/']]);
    expect(new Set(built.flatMap(prefixOf)).size).toBe(KILN_KEY_PREFIXES.length);
  });

  it('writes ids in lower case, so a prefix from an upper-case route id still matches', () => {
    expect(objectKeys.jobInputs(job.toUpperCase())).toBe(`inputs/${job}/`);
  });

  it.each([
    ['a path as the name', () => objectKeys.input(job, other, '../../etc/passwd')],
    ['an empty name (//)', () => objectKeys.upload(other, '')],
    ['a dot-dot name', () => objectKeys.upload(other, '..')],
    ['a NUL', () => objectKeys.input(job, other, 'a\u0000.mp4')],
    ['CRLF', () => objectKeys.output(job, other, 1, 'a.mp4\r\n')],
    ['a backslash', () => objectKeys.upload(other, '..\\x')],
    ['a 256-byte name', () => objectKeys.upload(other, 'x'.repeat(256))],
    ['a job id that is not a UUID', () => objectKeys.input('..', other, 'a.mp4')],
    ['an id with a slash', () => objectKeys.jobOutputs(`${job}/../x`)],
    ['an empty id', () => objectKeys.uploadChunks('')],
    ['a negative attempt', () => objectKeys.output(job, other, -1, 'a.mp3')],
    ['a fractional attempt', () => objectKeys.output(job, other, 1.5, 'a.mp3')],
    ['a chunk ending before it starts', () => objectKeys.chunk(other, 9, 5)],
    ['an unsafe offset', () => objectKeys.chunk(other, 0, 2 ** 53)],
    ['a nonce with a slash', () => objectKeys.chunk(other, 0, 1, 'a/b')],
  ])('refuses %s', (_what, build) => {
    expect(build).toThrow(ObjectKeyError);
  });

  it('reads every key it builds back into the same parts', () => {
    const uuid = fc.uuid({ version: 4 });
    const name = fc.string({ minLength: 1, maxLength: 40 }).filter((s) => filenameProblem(s) === undefined);
    fc.assert(
      fc.property(uuid, uuid, name, fc.nat(), fc.nat(), (a, b, filename, n, m) => {
        const [start, end] = n <= m ? [n, m] : [m, n];
        expect(parseObjectKey(objectKeys.input(a, b, filename))).toEqual({
          kind: 'input',
          jobId: a,
          inputId: b,
          filename,
        });
        expect(parseObjectKey(objectKeys.output(a, b, n, filename))).toEqual({
          kind: 'output',
          jobId: a,
          outputId: b,
          attempt: n,
          filename,
        });
        expect(parseObjectKey(objectKeys.upload(a, filename))).toEqual({ kind: 'upload', uploadId: a, filename });
        expect(parseObjectKey(objectKeys.assembledUpload(a, filename))).toEqual({
          kind: 'assembled-upload',
          uploadId: a,
          filename,
        });
        expect(parseObjectKey(objectKeys.chunk(a, start, end, 'abc'))).toEqual({
          kind: 'chunk',
          uploadId: a,
          start,
          end,
          nonce: 'abc',
        });
      }),
    );
  });

  it('refuses to read keys outside the layout, never throwing anything else', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 120 }), (key) => {
        try {
          const parsed = parseObjectKey(key);
          expect(key).toMatch(/^(inputs|outputs|uploads|chunks)\//);
          expect(parsed).toBeDefined();
        } catch (err: unknown) {
          expect(err).toBeInstanceOf(ObjectKeyError);
        }
      }),
    );
    for (const key of [
      `inputs/${job}//etc/passwd`,
      `inputs/${job}/${other}/../x`,
      `uploads/${other}/a\r\nb`,
      `outputs/${job}/${other}/01/a.mp3`,
      `chunks/${other}/9-5.ab`,
      'inputs/x/y/z',
    ])
      expect(() => parseObjectKey(key)).toThrow(ObjectKeyError);
  });
});
