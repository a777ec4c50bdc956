import { IPV4_SPECIAL, IPV6_SPECIAL, addressBytes, specialPurposeOf } from './special-addresses';

/**
 * Every block of the IANA special-purpose registries, as data: its first and last address are refused
 * as that block; the addresses just outside it are public or fall in the neighbouring block named.
 * `null` = an ordinary public address.
 */
const RESERVED6 = 'outside global unicast 2000::/3';
const boundaries: [block: string, inside: string[], outside: [address: string, expected: string | null][]][] = [
  ['0.0.0.0/8', ['0.0.0.0', '0.255.255.255'], [['1.0.0.0', null]]],
  [
    '10.0.0.0/8',
    ['10.0.0.0', '10.255.255.255'],
    [
      ['9.255.255.255', null],
      ['11.0.0.0', null],
    ],
  ],
  [
    '100.64.0.0/10',
    ['100.64.0.0', '100.127.255.255'],
    [
      ['100.63.255.255', null],
      ['100.128.0.0', null],
    ],
  ],
  [
    '127.0.0.0/8',
    ['127.0.0.0', '127.0.0.1', '127.255.255.255'],
    [
      ['126.255.255.255', null],
      ['128.0.0.0', null],
    ],
  ],
  [
    '169.254.0.0/16',
    ['169.254.0.0', '169.254.169.254', '169.254.255.255'],
    [
      ['169.253.255.255', null],
      ['169.255.0.0', null],
    ],
  ],
  [
    '172.16.0.0/12',
    ['172.16.0.0', '172.31.255.255'],
    [
      ['172.15.255.255', null],
      ['172.32.0.0', null],
    ],
  ],
  [
    '192.0.0.0/24',
    ['192.0.0.0', '192.0.0.8', '192.0.0.9', '192.0.0.10', '192.0.0.170', '192.0.0.255'],
    [
      ['191.255.255.255', null],
      ['192.0.1.0', null],
    ],
  ],
  [
    '192.0.2.0/24',
    ['192.0.2.0', '192.0.2.255'],
    [
      ['192.0.1.255', null],
      ['192.0.3.0', null],
    ],
  ],
  [
    '192.31.196.0/24',
    ['192.31.196.0', '192.31.196.255'],
    [
      ['192.31.195.255', null],
      ['192.31.197.0', null],
    ],
  ],
  [
    '192.52.193.0/24',
    ['192.52.193.0', '192.52.193.255'],
    [
      ['192.52.192.255', null],
      ['192.52.194.0', null],
    ],
  ],
  [
    '192.88.99.0/24',
    ['192.88.99.0', '192.88.99.2', '192.88.99.255'],
    [
      ['192.88.98.255', null],
      ['192.88.100.0', null],
    ],
  ],
  [
    '192.168.0.0/16',
    ['192.168.0.0', '192.168.255.255'],
    [
      ['192.167.255.255', null],
      ['192.169.0.0', null],
    ],
  ],
  [
    '192.175.48.0/24',
    ['192.175.48.0', '192.175.48.255'],
    [
      ['192.175.47.255', null],
      ['192.175.49.0', null],
    ],
  ],
  [
    '198.18.0.0/15',
    ['198.18.0.0', '198.19.255.255'],
    [
      ['198.17.255.255', null],
      ['198.20.0.0', null],
    ],
  ],
  [
    '198.51.100.0/24',
    ['198.51.100.0', '198.51.100.255'],
    [
      ['198.51.99.255', null],
      ['198.51.101.0', null],
    ],
  ],
  [
    '203.0.113.0/24',
    ['203.0.113.0', '203.0.113.255'],
    [
      ['203.0.112.255', null],
      ['203.0.114.0', null],
    ],
  ],
  [
    '224.0.0.0/4',
    ['224.0.0.0', '239.255.255.255'],
    [
      ['223.255.255.255', null],
      ['240.0.0.0', '240.0.0.0/4'],
    ],
  ],
  ['240.0.0.0/4', ['240.0.0.0', '255.255.255.254', '255.255.255.255'], [['239.255.255.255', '224.0.0.0/4']]],

  ['::/128', ['::'], [['::1', '::1/128']]],
  [
    '::1/128',
    ['::1', '0:0:0:0:0:0:0:1'],
    [
      ['::', '::/128'],
      ['::2', '::/96'],
    ],
  ],
  ['::/96', ['::2', '::ffff:ffff', '::127.0.0.1'], [['::1:0:0', RESERVED6]]],
  [
    '::ffff:0:0:0/96',
    ['::ffff:0:0:0', '::ffff:0:ffff:ffff'],
    [
      ['::fffe:ffff:ffff:ffff', RESERVED6],
      ['::ffff:1:0:0', RESERVED6],
    ],
  ],
  [
    '64:ff9b:1::/48',
    ['64:ff9b:1::', '64:ff9b:1:ffff:ffff:ffff:ffff:ffff'],
    [
      ['64:ff9b:0:ffff:ffff:ffff:ffff:ffff', RESERVED6],
      ['64:ff9b:2::', RESERVED6],
    ],
  ],
  [
    '100::/64',
    ['100::', '100::ffff:ffff:ffff:ffff'],
    [
      ['ff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', RESERVED6],
      ['100:0:0:1::', '100:0:0:1::/64'],
    ],
  ],
  ['100:0:0:1::/64', ['100:0:0:1::', '100::1:ffff:ffff:ffff:ffff'], [['100:0:0:2::', RESERVED6]]],
  [
    '2001::/23',
    [
      '2001::',
      '2001:0:4136:e378:8000:63bf:3fff:fdd2' /* Teredo */,
      '2001:1::1',
      '2001:2::1',
      '2001:3::1',
      '2001:4:112::1',
      '2001:10::1',
      '2001:20::1',
      '2001:30::1',
      '2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff',
    ],
    [
      ['2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff', null],
      ['2001:200::', null],
    ],
  ],
  [
    '2001:db8::/32',
    ['2001:db8::', '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff'],
    [
      ['2001:db7:ffff:ffff:ffff:ffff:ffff:ffff', null],
      ['2001:db9::', null],
    ],
  ],
  [
    '2620:4f:8000::/48',
    ['2620:4f:8000::', '2620:4f:8000:ffff:ffff:ffff:ffff:ffff'],
    [
      ['2620:4f:7fff:ffff:ffff:ffff:ffff:ffff', null],
      ['2620:4f:8001::', null],
    ],
  ],
  [
    '3fff::/20',
    ['3fff::', '3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff'],
    [
      ['3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff', null],
      ['3fff:1000::', null],
    ],
  ],
  [
    '5f00::/16',
    ['5f00::', '5f00:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
    [
      ['5eff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', RESERVED6],
      ['5f01::', RESERVED6],
    ],
  ],
  [
    'fc00::/7',
    ['fc00::', 'fd12:3456::1', 'fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
    [
      ['fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', RESERVED6],
      ['fe00::', RESERVED6],
    ],
  ],
  [
    'fe80::/10',
    ['fe80::', 'fe80::1%eth0', 'febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
    [
      ['fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff', RESERVED6],
      ['fec0::', 'fec0::/10'],
    ],
  ],
  ['fec0::/10', ['fec0::', 'feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'], [['ff00::', 'ff00::/8']]],
  [
    'ff00::/8',
    ['ff00::', 'ff02::1', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
    [['feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'fec0::/10']],
  ],
];

/** IPv6 forms that carry an IPv4 address are judged by that address. */
const embedded: [address: string, expected: string | null][] = [
  // IPv4-mapped ::ffff:0:0/96, also as the URL parser writes it (hex groups)
  ['::ffff:127.0.0.1', '127.0.0.0/8'],
  ['::ffff:7f00:1', '127.0.0.0/8'],
  ['::ffff:0:0', '0.0.0.0/8'],
  ['::ffff:10.0.0.1', '10.0.0.0/8'],
  ['::ffff:a9fe:a9fe', '169.254.0.0/16'],
  ['::ffff:ffff:ffff', '240.0.0.0/4'],
  ['::ffff:8.8.8.8', null],
  ['::ffff:808:808', null],
  // NAT64 well-known prefix 64:ff9b::/96 (RFC 6052): never with a non-global IPv4 address
  ['64:ff9b::', '0.0.0.0/8'],
  ['64:ff9b::127.0.0.1', '127.0.0.0/8'],
  ['64:ff9b::a9fe:a9fe', '169.254.0.0/16'],
  ['64:ff9b::c0a8:101', '192.168.0.0/16'],
  ['64:ff9b::ffff:ffff', '240.0.0.0/4'],
  ['64:ff9b::8.8.8.8', null],
  ['64:ff9b::1:0:0', RESERVED6], // just past the /96
  ['64:ff9a:ffff:ffff:ffff:ffff:ffff:ffff', RESERVED6], // just before it
  // 6to4 2002::/16: the IPv4 address is bits 16-47
  ['2002::', '0.0.0.0/8'],
  ['2002:7f00:1::1', '127.0.0.0/8'],
  ['2002:a00:1::', '10.0.0.0/8'],
  ['2002:c0a8:101:1::1', '192.168.0.0/16'],
  ['2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff', '240.0.0.0/4'],
  ['2002:808:808::1', null],
  ['2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff', null], // just before 2002::/16
  ['2003::', null], // just after
];

describe('the special-purpose address registries', () => {
  describe.each(boundaries)('%s', (block, inside, outside) => {
    it.each(inside)(`refuses %s as ${block}`, (address) => {
      expect(specialPurposeOf(address)).toContain(block);
    });
    it.each(outside)('%s just outside: %s', (address, expected) => {
      const reason = specialPurposeOf(address);
      if (expected === null) expect(reason).toBeUndefined();
      else expect(reason).toContain(expected);
      expect(reason ?? '').not.toContain(`${block} `);
    });
  });

  it.each(embedded)('%s: judged by the IPv4 address it carries (%s)', (address, expected) => {
    const reason = specialPurposeOf(address);
    if (expected === null) expect(reason).toBeUndefined();
    else expect(reason).toContain(expected);
  });

  // IPv6 global unicast is 2000::/3; the rest of the IPv6 space is reserved by the IETF.
  it.each([
    ['1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', RESERVED6],
    ['2000::', null],
    ['3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', null],
    ['4000::', RESERVED6],
    ['8000::1', RESERVED6],
  ])('%s around 2000::/3: %s', (address, expected) => {
    const reason = specialPurposeOf(address);
    if (expected === null) expect(reason).toBeUndefined();
    else expect(reason).toContain(expected);
  });

  it('tests every block of the table', () => {
    const tested = new Set(boundaries.map(([block]) => block));
    for (const b of [...IPV4_SPECIAL, ...IPV6_SPECIAL]) if (b.kind === 'refuse') expect(tested).toContain(b.cidr);
  });

  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '93.184.215.14',
    '2606:4700::1111',
    '2001:4860:4860::8888',
    '2a00:1450:4001:82b::200e',
  ])('%s is public', (address) => {
    expect(specialPurposeOf(address)).toBeUndefined();
  });

  it.each(['not-an-ip', '', '1.2.3', '::g', '127.0.0.1.', '[::1]'])('"%s" is refused: not an IP address', (address) => {
    expect(specialPurposeOf(address)).toBe('not an IP address');
  });

  it('reads IPv6 text in every form into the same bytes', () => {
    const same = [
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
      '0:0:0:0:0:ffff:7f00:0001',
      '0000:0000:0000:0000:0000:FFFF:127.0.0.1',
    ];
    for (const a of same)
      expect(Array.from(addressBytes(a)!)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1]);
  });
});
