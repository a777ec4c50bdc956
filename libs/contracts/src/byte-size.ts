/**
 * Byte sizes as people type them, read the same way by the server's configuration and the CLI:
 * - `KiB`, `MiB`, `GiB`, `TiB` are binary (1024, 1024², …), as IEC says;
 * - `kB`, `MB`, `GB`, `TB` are decimal (1000, 1000², …), as SI says;
 * - a bare letter `k`, `M`, `G`, `T` is binary, as curl's `--limit-rate 512k` and `docker -m 2g` read it;
 * - no unit, or `B`, is bytes.
 * Units are case-insensitive ("mib" = "MiB", "kb" = "kB"); a space may separate number and unit.
 * A fraction is allowed and rounded down to whole bytes ("1.5KiB" = 1536). Anything else is refused:
 * signs, exponents, unknown units, and sizes beyond 2^53 - 1.
 */
const UNITS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  k: 1024,
  kib: 1024,
  kb: 1000,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  mb: 1000 ** 2,
  g: 1024 ** 3,
  gib: 1024 ** 3,
  gb: 1000 ** 3,
  t: 1024 ** 4,
  tib: 1024 ** 4,
  tb: 1000 ** 4,
};

/** Parses "8MiB", "8M", "512k", "100MB", "1048576"; undefined when the text is not a byte size. */
export function parseByteSize(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  if (!m) return undefined;
  const unit = UNITS[m[2].toLowerCase()];
  if (unit === undefined) return undefined;
  const n = Math.floor(Number(m[1]) * unit);
  return Number.isSafeInteger(n) ? n : undefined;
}
