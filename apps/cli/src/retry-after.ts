// The Retry-After header (RFC 9110 §10.2.3).

/** Retry-After as delta seconds or an HTTP date → milliseconds from now (undefined when absent or unreadable). */
export function parseRetryAfter(header: string | null | undefined, nowMs: number): number | undefined {
  if (!header) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}
