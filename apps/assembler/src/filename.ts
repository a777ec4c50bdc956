import { safeFilename } from '@kiln/contracts';

export { safeFilename };

/**
 * The file name a Content-Disposition header suggests (RFC 6266): `filename*` (RFC 8187,
 * charset'lang'percent-encoded) wins over `filename` (token or quoted-string). Unsanitised.
 */
export function filenameFromContentDisposition(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const extended = /(?:^|;)\s*filename\*\s*=\s*([^';]*)'[^']*'([^;]*)/i.exec(header);
  if (extended) {
    const decoded = decodeExtValue(extended[1].trim(), extended[2].trim());
    if (decoded) return decoded;
  }
  const plain = /(?:^|;)\s*filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))/i.exec(header);
  if (!plain) return undefined;
  const value = plain[1] !== undefined ? plain[1].replace(/\\(.)/g, '$1') : plain[2].trim();
  return value || undefined;
}

function decodeExtValue(charset: string, encoded: string): string | undefined {
  try {
    if (/^utf-8$/i.test(charset)) return decodeURIComponent(encoded);
    if (/^iso-8859-1$/i.test(charset))
      return encoded.replace(/%([0-9a-f]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  } catch {
    // malformed percent-encoding: fall back to `filename`
  }
  return undefined;
}

/** The last non-empty path segment of a URL, percent-decoded when that is valid. Unsanitised. */
export function filenameFromUrl(url: URL | string): string | undefined {
  const path = typeof url === 'string' ? new URL(url).pathname : url.pathname;
  const last = path.split('/').filter(Boolean).pop();
  if (!last) return undefined;
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

/**
 * The name a fetched input is stored under: the one the client gave, else the server's
 * Content-Disposition, else the last path segment of the final URL, else `download` — sanitised.
 */
export function fetchedFilename(
  given: string | null | undefined,
  contentDisposition: string | undefined,
  finalUrl: URL,
): string {
  for (const candidate of [given, filenameFromContentDisposition(contentDisposition), filenameFromUrl(finalUrl)]) {
    const name = safeFilename(candidate, '');
    if (name) return name;
  }
  return 'download';
}
