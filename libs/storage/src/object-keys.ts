import { randomBytes } from 'node:crypto';
import { filenameProblem } from '@kiln/contracts';

/**
 * Every object key Kiln writes, built and read in one place. The layout:
 *
 *   inputs/<jobId>/<inputId>/<filename>                  a job's input file (whole upload, fetch, assembly)
 *   outputs/<jobId>/<outputId>/<attempt>/<filename>      a conversion's output, per claim of its unit
 *   outputs/<jobId>/<outputId>/<attempt>/<dir>/<name>    a file of a many-file output (an HLS rendition's segments)
 *   uploads/<uploadId>/<filename>                        a standalone upload's file (and its S3 multipart upload)
 *   uploads/<uploadId>/assembled/<filename>              an assembly target beside that multipart upload
 *   chunks/<uploadId>/<start>-<end>.<nonce>              one stored chunk of an upload
 *
 * Ids are UUIDs (written lower-case), attempts and byte offsets whole numbers, nonces short lower-case
 * tokens, and file names come from the file name alphabet (`filenameProblem` in @kiln/contracts). Anything else is refused with an
 * ObjectKeyError: a key never holds `..`, `//`, a backslash, a control character or a path in a name.
 */
export class ObjectKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ObjectKeyError';
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const NONCE = /^[0-9a-z]{1,16}$/;

function id(what: string, value: string): string {
  const v = typeof value === 'string' ? value.toLowerCase() : '';
  if (!UUID.test(v))
    throw new ObjectKeyError(
      `${what} must be a UUID to be part of an object key (got ${JSON.stringify(String(value).slice(0, 80))})`,
    );
  return v;
}

function count(what: string, value: number): string {
  if (!Number.isSafeInteger(value) || value < 0)
    throw new ObjectKeyError(`${what} must be a whole number ≥ 0 to be part of an object key (got ${value})`);
  return String(value);
}

function name(value: string): string {
  const problem = filenameProblem(value);
  if (problem)
    throw new ObjectKeyError(
      `A file name in an object key ${problem} (got ${JSON.stringify(String(value).slice(0, 80))})`,
    );
  return value;
}

export const objectKeys = {
  input: (jobId: string, inputId: string, filename: string) =>
    `inputs/${id('job id', jobId)}/${id('input id', inputId)}/${name(filename)}`,
  /** Every input file of a job. */
  jobInputs: (jobId: string) => `inputs/${id('job id', jobId)}/`,
  output: (jobId: string, outputId: string, attempt: number, filename: string) =>
    `outputs/${id('job id', jobId)}/${id('output id', outputId)}/${count('attempt', attempt)}/${name(filename)}`,
  /**
   * A file of a many-file output (HLS renditions, PDF pages) beside its first: `name` is relative,
   * `/`-separated, at most three levels (`360p/segment_000.ts`), each level a file name.
   */
  outputFile: (jobId: string, outputId: string, attempt: number, relative: string) => {
    const levels = String(relative).split('/');
    if (levels.length > 3) throw new ObjectKeyError(`an output file name has at most 3 levels (got ${levels.length})`);
    return `outputs/${id('job id', jobId)}/${id('output id', outputId)}/${count('attempt', attempt)}/${levels.map(name).join('/')}`;
  },
  /** Every output file of a job. */
  jobOutputs: (jobId: string) => `outputs/${id('job id', jobId)}/`,
  upload: (uploadId: string, filename: string) => `uploads/${id('upload id', uploadId)}/${name(filename)}`,
  assembledUpload: (uploadId: string, filename: string) =>
    `uploads/${id('upload id', uploadId)}/assembled/${name(filename)}`,
  /** Everything stored for an upload's file (not its chunks). */
  uploadFiles: (uploadId: string) => `uploads/${id('upload id', uploadId)}/`,
  /** A chunk object; the nonce keeps two writes of one range apart (random when not given). */
  chunk: (uploadId: string, start: number, end: number, nonce = randomBytes(4).toString('hex')) => {
    if (!NONCE.test(nonce))
      throw new ObjectKeyError(
        `A chunk nonce must be 1-16 lower-case letters or digits (got ${JSON.stringify(nonce)})`,
      );
    if (end < start) throw new ObjectKeyError(`A chunk ends before it starts (${start}-${end})`);
    return `chunks/${id('upload id', uploadId)}/${count('start', start)}-${count('end', end)}.${nonce}`;
  },
  /** Every chunk object of an upload. */
  uploadChunks: (uploadId: string) => `chunks/${id('upload id', uploadId)}/`,
} as const;

/** The top-level prefixes of every key above: what Kiln may list, and sweep of objects no row names. */
export const KILN_KEY_PREFIXES = ['inputs/', 'outputs/', 'uploads/', 'chunks/'] as const;

export type ParsedObjectKey =
  | { kind: 'input'; jobId: string; inputId: string; filename: string }
  | { kind: 'output'; jobId: string; outputId: string; attempt: number; filename: string }
  | { kind: 'upload'; uploadId: string; filename: string }
  | { kind: 'assembled-upload'; uploadId: string; filename: string }
  | { kind: 'chunk'; uploadId: string; start: number; end: number; nonce: string };

const U = '([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})';
const N = '(0|[1-9][0-9]{0,15})';
const LAYOUTS: [RegExp, (m: RegExpExecArray) => ParsedObjectKey][] = [
  [
    new RegExp(`^inputs/${U}/${U}/([^/]+)$`, 'u'),
    (m) => ({ kind: 'input', jobId: m[1], inputId: m[2], filename: m[3] }),
  ],
  [
    new RegExp(`^outputs/${U}/${U}/${N}/([^/]+)$`, 'u'),
    (m) => ({ kind: 'output', jobId: m[1], outputId: m[2], attempt: Number(m[3]), filename: m[4] }),
  ],
  [
    new RegExp(`^uploads/${U}/assembled/([^/]+)$`, 'u'),
    (m) => ({ kind: 'assembled-upload', uploadId: m[1], filename: m[2] }),
  ],
  [new RegExp(`^uploads/${U}/([^/]+)$`, 'u'), (m) => ({ kind: 'upload', uploadId: m[1], filename: m[2] })],
  [
    new RegExp(`^chunks/${U}/${N}-${N}\\.([0-9a-z]{1,16})$`, 'u'),
    (m) => ({ kind: 'chunk', uploadId: m[1], start: Number(m[2]), end: Number(m[3]), nonce: m[4] }),
  ],
];

/** Reads a key of the layout above back into its parts; anything else (or a bad part) is an ObjectKeyError. */
export function parseObjectKey(key: string): ParsedObjectKey {
  for (const [re, read] of LAYOUTS) {
    const m = re.exec(key);
    if (!m) continue;
    const parsed = read(m);
    if ('filename' in parsed) name(parsed.filename);
    if (
      'start' in parsed &&
      (!Number.isSafeInteger(parsed.start) || !Number.isSafeInteger(parsed.end) || parsed.end < parsed.start)
    )
      break;
    if ('attempt' in parsed && !Number.isSafeInteger(parsed.attempt)) break;
    return parsed;
  }
  throw new ObjectKeyError(`Not a Kiln object key: ${JSON.stringify(String(key).slice(0, 120))}`);
}
