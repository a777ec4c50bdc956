import { isIP } from 'node:net';

/**
 * The IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890 and updates), plus the blocks of
 * the address-space registries that are not unicast on the Internet (multicast, site-local, IPv4-compatible,
 * everything IPv6 outside 2000::/3). Every block is refused as a target of remote fetches and callbacks,
 * also the few the registry calls globally reachable (anycast PCP/TURN/AS112/AMT relays, ORCHID): no
 * media file or webhook receiver lives there. Three IPv6 forms carry an IPv4 address and are judged by
 * it instead: IPv4-mapped (::ffff:0:0/96), the NAT64 well-known prefix (64:ff9b::/96) and 6to4 (2002::/16).
 *
 * Sources: https://www.iana.org/assignments/iana-ipv4-special-registry/ and
 * https://www.iana.org/assignments/iana-ipv6-special-registry/ (checked 2026-11-29).
 */
export interface SpecialBlock {
  cidr: string;
  name: string;
  rfc: string;
  /** `embedded-v4`: the address is judged by the IPv4 address it carries (at `v4Offset`, in bytes). */
  kind: 'refuse' | 'embedded-v4';
  v4Offset?: number;
}

export const IPV4_SPECIAL: readonly SpecialBlock[] = [
  { cidr: '0.0.0.0/8', name: 'this network', rfc: 'RFC 791', kind: 'refuse' },
  { cidr: '10.0.0.0/8', name: 'private-use', rfc: 'RFC 1918', kind: 'refuse' },
  { cidr: '100.64.0.0/10', name: 'shared address space (CGNAT)', rfc: 'RFC 6598', kind: 'refuse' },
  { cidr: '127.0.0.0/8', name: 'loopback', rfc: 'RFC 1122', kind: 'refuse' },
  { cidr: '169.254.0.0/16', name: 'link-local', rfc: 'RFC 3927', kind: 'refuse' },
  { cidr: '172.16.0.0/12', name: 'private-use', rfc: 'RFC 1918', kind: 'refuse' },
  // 192.0.0.0/24 holds 192.0.0.0/29 (DS-Lite), .8 (dummy), .9 (PCP anycast), .10 (TURN anycast), .170/.171 (NAT64 discovery)
  { cidr: '192.0.0.0/24', name: 'IETF protocol assignments', rfc: 'RFC 6890', kind: 'refuse' },
  { cidr: '192.0.2.0/24', name: 'documentation (TEST-NET-1)', rfc: 'RFC 5737', kind: 'refuse' },
  { cidr: '192.31.196.0/24', name: 'AS112-v4', rfc: 'RFC 7535', kind: 'refuse' },
  { cidr: '192.52.193.0/24', name: 'AMT', rfc: 'RFC 7450', kind: 'refuse' },
  // also 192.88.99.2/32, the 6a44 relay anycast address (RFC 6751)
  { cidr: '192.88.99.0/24', name: 'deprecated 6to4 relay anycast', rfc: 'RFC 7526', kind: 'refuse' },
  { cidr: '192.168.0.0/16', name: 'private-use', rfc: 'RFC 1918', kind: 'refuse' },
  { cidr: '192.175.48.0/24', name: 'direct delegation AS112 service', rfc: 'RFC 7534', kind: 'refuse' },
  { cidr: '198.18.0.0/15', name: 'benchmarking', rfc: 'RFC 2544', kind: 'refuse' },
  { cidr: '198.51.100.0/24', name: 'documentation (TEST-NET-2)', rfc: 'RFC 5737', kind: 'refuse' },
  { cidr: '203.0.113.0/24', name: 'documentation (TEST-NET-3)', rfc: 'RFC 5737', kind: 'refuse' },
  { cidr: '224.0.0.0/4', name: 'multicast', rfc: 'RFC 5771', kind: 'refuse' },
  // 240.0.0.0/4 includes 255.255.255.255/32, limited broadcast (RFC 919)
  { cidr: '240.0.0.0/4', name: 'reserved', rfc: 'RFC 1112', kind: 'refuse' },
];

export const IPV6_SPECIAL: readonly SpecialBlock[] = [
  { cidr: '::/128', name: 'unspecified', rfc: 'RFC 4291', kind: 'refuse' },
  { cidr: '::1/128', name: 'loopback', rfc: 'RFC 4291', kind: 'refuse' },
  { cidr: '::/96', name: 'IPv4-compatible (deprecated)', rfc: 'RFC 4291', kind: 'refuse' },
  { cidr: '::ffff:0:0/96', name: 'IPv4-mapped', rfc: 'RFC 4291', kind: 'embedded-v4', v4Offset: 12 },
  { cidr: '::ffff:0:0:0/96', name: 'IPv4-translated', rfc: 'RFC 2765', kind: 'refuse' },
  { cidr: '64:ff9b::/96', name: 'IPv4-IPv6 translation (NAT64)', rfc: 'RFC 6052', kind: 'embedded-v4', v4Offset: 12 },
  { cidr: '64:ff9b:1::/48', name: 'local-use IPv4-IPv6 translation', rfc: 'RFC 8215', kind: 'refuse' },
  { cidr: '100::/64', name: 'discard-only', rfc: 'RFC 6666', kind: 'refuse' },
  { cidr: '100:0:0:1::/64', name: 'dummy IPv6 prefix', rfc: 'RFC 9780', kind: 'refuse' },
  // 2001::/23 holds Teredo 2001::/32, PCP/TURN/DNS-SD anycast 2001:1::1-3, benchmarking 2001:2::/48, AMT 2001:3::/32,
  // AS112-v6 2001:4:112::/48, ORCHID 2001:10::/28, ORCHIDv2 2001:20::/28, drone remote ID 2001:30::/28
  { cidr: '2001::/23', name: 'IETF protocol assignments', rfc: 'RFC 2928', kind: 'refuse' },
  { cidr: '2001:db8::/32', name: 'documentation', rfc: 'RFC 3849', kind: 'refuse' },
  { cidr: '2002::/16', name: '6to4', rfc: 'RFC 3056', kind: 'embedded-v4', v4Offset: 2 },
  { cidr: '2620:4f:8000::/48', name: 'direct delegation AS112 service', rfc: 'RFC 7534', kind: 'refuse' },
  { cidr: '3fff::/20', name: 'documentation', rfc: 'RFC 9637', kind: 'refuse' },
  { cidr: '5f00::/16', name: 'segment routing (SRv6) SIDs', rfc: 'RFC 9602', kind: 'refuse' },
  { cidr: 'fc00::/7', name: 'unique-local', rfc: 'RFC 4193', kind: 'refuse' },
  { cidr: 'fe80::/10', name: 'link-local', rfc: 'RFC 4291', kind: 'refuse' },
  { cidr: 'fec0::/10', name: 'site-local (deprecated)', rfc: 'RFC 3879', kind: 'refuse' },
  { cidr: 'ff00::/8', name: 'multicast', rfc: 'RFC 4291', kind: 'refuse' },
];

/** IPv6 global unicast is 2000::/3; the rest of the space is reserved by the IETF (IPv6 Address Space registry). */
const GLOBAL_UNICAST = '2000::/3';

interface CompiledBlock extends SpecialBlock {
  bytes: Uint8Array;
  bits: number;
}

const compile = (blocks: readonly SpecialBlock[]): CompiledBlock[] =>
  blocks.map((b) => {
    const [addr, bits] = b.cidr.split('/');
    const bytes = addressBytes(addr);
    if (!bytes) throw new Error(`bad block ${b.cidr}`);
    return { ...b, bytes, bits: Number(bits) };
  });

/** An IP address as bytes (4 or 16), or undefined when it is not one. A zone (`%eth0`) is ignored. */
export function addressBytes(address: string): Uint8Array | undefined {
  const plain = address.replace(/%.*$/, '');
  const family = isIP(plain);
  if (family === 4) return Uint8Array.from(plain.split('.').map(Number));
  if (family !== 6) return undefined;
  let text = plain.toLowerCase();
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const o = v4[1].split('.').map(Number);
    text = `${text.slice(0, -v4[1].length)}${((o[0] << 8) | o[1]).toString(16)}:${((o[2] << 8) | o[3]).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups =
    tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  if (groups.length !== 8) return undefined;
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const n = parseInt(g, 16);
    out[2 * i] = n >> 8;
    out[2 * i + 1] = n & 0xff;
  });
  return out;
}

function inBlock(bytes: Uint8Array, block: { bytes: Uint8Array; bits: number }): boolean {
  if (bytes.length !== block.bytes.length) return false;
  const whole = block.bits >> 3;
  for (let i = 0; i < whole; i++) if (bytes[i] !== block.bytes[i]) return false;
  const rest = block.bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (bytes[whole] & mask) === (block.bytes[whole] & mask);
}

const V4 = compile(IPV4_SPECIAL);
const V6 = compile(IPV6_SPECIAL);
const [UNICAST] = compile([{ cidr: GLOBAL_UNICAST, name: 'global unicast', rfc: 'RFC 4291', kind: 'refuse' }]);

/**
 * Why an address is refused: the special-purpose block it falls in (`"loopback (RFC 1122)"`,
 * `"IPv4-mapped ::ffff:0:0/96 carrying 127.0.0.1: loopback (RFC 1122)"`), or undefined when it is an
 * ordinary public unicast address. Anything that is not an IP address is refused.
 */
export function specialPurposeOf(address: string): string | undefined {
  const bytes = addressBytes(address);
  if (!bytes) return 'not an IP address';
  return classify(bytes);
}

function classify(bytes: Uint8Array): string | undefined {
  if (bytes.length === 4) {
    const hit = V4.find((b) => inBlock(bytes, b));
    return hit ? `${hit.name} ${hit.cidr} (${hit.rfc})` : undefined;
  }
  const carrier = V6.find((b) => b.kind === 'embedded-v4' && inBlock(bytes, b));
  if (carrier) {
    const v4 = bytes.slice(carrier.v4Offset!, carrier.v4Offset! + 4);
    const inner = classify(v4);
    return inner ? `${carrier.name} ${carrier.cidr} carrying ${v4.join('.')}: ${inner}` : undefined;
  }
  const hit = V6.find((b) => b.kind === 'refuse' && inBlock(bytes, b));
  if (hit) return `${hit.name} ${hit.cidr} (${hit.rfc})`;
  if (!inBlock(bytes, UNICAST)) return 'outside global unicast 2000::/3 (reserved by the IETF)';
  return undefined;
}
