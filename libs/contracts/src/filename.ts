import { KilnError } from './errors';

/** Longest stored file name, in UTF-8 bytes (the usual file system limit; keys stay far below S3's 1,024). */
export const FILENAME_MAX_BYTES = 255;

/**
 * Characters no stored file name holds: control characters (C0, DEL, C1), format characters (bidi
 * overrides, zero-width, BOM), line and paragraph separators, unpaired surrogates, and path separators.
 */
export const FILENAME_FORBIDDEN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}/\\]/u;
const EDGE_SPACE = /^\s|\s$/u;

/**
 * Why a string is not a file name of the alphabet (undefined when it is one): any Unicode text of 1 to
 * FILENAME_MAX_BYTES UTF-8 bytes without FILENAME_FORBIDDEN characters, without leading or trailing
 * white space, and not `.` or `..`.
 */
export function filenameProblem(name: string): string | undefined {
  if (typeof name !== 'string') return 'must be a string';
  if (name === '') return 'must not be empty';
  const bad = FILENAME_FORBIDDEN.exec(name);
  if (bad)
    return /[/\\]/.test(bad[0])
      ? 'must be a file name, not a path (no / or \\)'
      : `must not contain control or format characters (U+${bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')})`;
  if (EDGE_SPACE.test(name)) return 'must not start or end with white space';
  if (name === '.' || name === '..') return 'must not be . or ..';
  if (Buffer.byteLength(name, 'utf8') > FILENAME_MAX_BYTES)
    return `must be at most ${FILENAME_MAX_BYTES} bytes (UTF-8)`;
  return undefined;
}

export function isKeyFilename(name: string): boolean {
  return filenameProblem(name) === undefined;
}

/**
 * File names of stored inputs and outputs, one sanitiser for every source. A name is a single path
 * segment of the file name alphabet (`filenameProblem` below; object keys end with one): Unicode text of
 * 1-255 UTF-8 bytes, no control or format characters, no `/` or `\`, not `.` or `..`, no white space
 * at either end. It is the last part of object keys and the name in Content-Disposition.
 *
 * - `parseFilename`: a name a client states (JSON `filename`, X-File-Name, a multipart part's
 *   filename, tus `filename` metadata) is taken as sent, white space at the ends trimmed, or refused
 *   with 400 `invalid_input` naming the field.
 * - `safeFilename`: a name Kiln derives (a remote server's Content-Disposition, the last segment of a
 *   URL, a converted file's name) is cleaned: the last path segment, forbidden characters dropped,
 *   shortened to 255 bytes with its extension kept; the fallback when nothing is left.
 */
export function parseFilename(value: string, field: string): string {
  const refuse = (message: string) =>
    new KilnError('invalid_input', `Invalid ${field}: ${message}.`, [{ field, message }]);
  if (typeof value !== 'string') throw refuse('must be a string');
  const forbidden = FILENAME_FORBIDDEN.exec(value);
  // Checked before trimming, which would silently drop a trailing CR/LF or tab.
  if (forbidden) throw refuse(filenameProblem(forbidden[0]) ?? 'contains a forbidden character');
  const name = value.trim();
  const problem = filenameProblem(name);
  if (problem) throw refuse(problem);
  return name;
}

const FORBIDDEN_ALL = new RegExp(FILENAME_FORBIDDEN.source, 'gu');

export function safeFilename(name: string | undefined | null, fallback = 'file'): string {
  let base =
    String(name ?? '')
      .split(/[\\/]/)
      .pop() ?? '';
  base = base.replace(FORBIDDEN_ALL, '').trim();
  if (base === '.' || base === '..') base = '';
  if (Buffer.byteLength(base, 'utf8') > FILENAME_MAX_BYTES) {
    const dot = base.lastIndexOf('.');
    const ext = dot > 0 && Buffer.byteLength(base.slice(dot), 'utf8') <= 16 ? base.slice(dot) : '';
    base = (
      truncateUtf8(ext ? base.slice(0, dot) : base, FILENAME_MAX_BYTES - Buffer.byteLength(ext, 'utf8')).trimEnd() + ext
    ).trim();
  }
  return base || fallback;
}

/** The longest prefix of `s` within `max` UTF-8 bytes, cut between code points. */
function truncateUtf8(s: string, max: number): string {
  let bytes = 0;
  let out = '';
  for (const ch of s) {
    bytes += Buffer.byteLength(ch, 'utf8');
    if (bytes > max) break;
    out += ch;
  }
  return out;
}

/** A file name sent in a header (X-File-Name), percent-decoded when it is encoded. */
export function headerFilename(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
