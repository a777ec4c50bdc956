/**
 * File names of stored inputs and outputs: the last path segment only, no control characters, at most
 * 200 characters (extension kept). Used as the last part of object keys and in Content-Disposition.
 */
export function safeFilename(name: string | undefined | null, fallback = 'file'): string {
  let base = (name ?? '').split(/[\\/]/).pop() ?? '';
  // eslint-disable-next-line no-control-regex
  base = base.replace(/[\u0000-\u001f\u007f]/g, '').trim();
  if (base === '.' || base === '..') base = '';
  if (base.length > 200) {
    const dot = base.lastIndexOf('.');
    const ext = dot > 0 && base.length - dot <= 10 ? base.slice(dot) : '';
    base = base.slice(0, 200 - ext.length) + ext;
  }
  return base || fallback;
}

/** A file name sent in a header (X-File-Name), percent-decoded when it is encoded. */
export function headerFilename(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
