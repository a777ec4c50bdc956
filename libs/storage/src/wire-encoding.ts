// Encodings of values that go into S3 request headers and bodies.

/** encodeURIComponent that also escapes !'()* (RFC 3986), as S3 headers and RFC 8187 need. */
export function encodeRfc3986(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** attachment; filename="ascii fallback"; filename*=UTF-8''percent-encoded (RFC 6266 / 8187). */
export function contentDisposition(filename: string): string {
  const fallback = filename.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encodeRfc3986(filename)}`;
}

/** Text safe inside an XML element (every markup character as a numeric reference). */
export function escapeXml(value: string): string {
  return value.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}
