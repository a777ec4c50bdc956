import { sniffImageHead } from './image-sniff';

const PNG_SIG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function chunk(type: string, data: number[]): number[] {
  const len = data.length;
  return [
    (len >>> 24) & 255,
    (len >>> 16) & 255,
    (len >>> 8) & 255,
    len & 255,
    ...Buffer.from(type, 'latin1'),
    ...data,
    0,
    0,
    0,
    0,
  ];
}
const be32 = (n: number) => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
const ihdr = (w: number, h: number, depth = 8, color = 2) =>
  chunk('IHDR', [...be32(w), ...be32(h), depth, color, 0, 0, 0]);

describe('sniffImageHead', () => {
  it('reads a PNG IHDR once an IDAT follows', () => {
    const head = Buffer.from([
      ...PNG_SIG,
      ...ihdr(640, 480),
      ...chunk('tEXt', [65, 0, 66]),
      ...chunk('IDAT', [1, 2, 3]),
    ]);
    expect(sniffImageHead(head, 5000)).toMatchObject({
      format: 'png_pipe',
      video_codec: 'png',
      width: 640,
      height: 480,
      size_bytes: 5000,
      kind: 'image',
    });
  });

  it.each([
    ['no IDAT within the head', [...PNG_SIG, ...ihdr(10, 10)]],
    [
      'an acTL (animated PNG)',
      [...PNG_SIG, ...ihdr(10, 10), ...chunk('acTL', [0, 0, 0, 2, 0, 0, 0, 0]), ...chunk('IDAT', [1])],
    ],
    ['IHDR not first', [...PNG_SIG, ...chunk('tEXt', [65]), ...ihdr(10, 10), ...chunk('IDAT', [1])]],
    ['a zero width', [...PNG_SIG, ...ihdr(0, 10), ...chunk('IDAT', [1])]],
    ['an impossible colour type', [...PNG_SIG, ...ihdr(10, 10, 8, 5), ...chunk('IDAT', [1])]],
    ['an impossible bit depth', [...PNG_SIG, ...ihdr(10, 10, 3, 2), ...chunk('IDAT', [1])]],
  ])('PNG: null for %s', (_why, bytes) => {
    expect(sniffImageHead(Buffer.from(bytes), 100)).toBeNull();
  });

  const sof = (marker: number, w: number, h: number, components = 3, precision = 8) => [
    0xff,
    marker,
    0,
    8 + 3 * components,
    precision,
    h >> 8,
    h & 255,
    w >> 8,
    w & 255,
    components,
    ...Array(3 * components).fill(1),
  ];
  const app0 = [0xff, 0xe0, 0, 16, ...Buffer.from('JFIF\0', 'latin1'), 1, 1, 0, 0, 1, 0, 1, 0, 0];

  it.each([
    ['baseline', 0xc0],
    ['extended', 0xc1],
    ['progressive', 0xc2],
  ])('JPEG: reads a %s frame header', (_kind, marker) => {
    const head = Buffer.from([0xff, 0xd8, ...app0, ...sof(marker, 1920, 1080)]);
    expect(sniffImageHead(head, 9000)).toMatchObject({
      format: 'jpeg_pipe',
      video_codec: 'mjpeg',
      width: 1920,
      height: 1080,
    });
  });

  it.each([
    ['lossless coding', [0xff, 0xd8, ...sof(0xc3, 10, 10)]],
    ['arithmetic coding', [0xff, 0xd8, ...sof(0xc9, 10, 10)]],
    ['4 components (CMYK)', [0xff, 0xd8, ...sof(0xc0, 10, 10, 4)]],
    ['12-bit samples', [0xff, 0xd8, ...sof(0xc0, 10, 10, 3, 12)]],
    ['a height set later (DNL)', [0xff, 0xd8, ...sof(0xc0, 10, 0)]],
    ['an Exif segment', [0xff, 0xd8, 0xff, 0xe1, 0, 8, ...Buffer.from('Exif\0\0', 'latin1'), ...sof(0xc0, 10, 10)]],
    ['a segment running past the head', [0xff, 0xd8, 0xff, 0xe0, 0x40, 0]],
    ['a scan before any frame', [0xff, 0xd8, 0xff, 0xda, 0, 2]],
    ['garbage between segments', [0xff, 0xd8, 0x12, 0x34]],
  ])('JPEG: null for %s', (_why, bytes) => {
    expect(sniffImageHead(Buffer.from(bytes), 100)).toBeNull();
  });

  it('null for anything else', () => {
    expect(sniffImageHead(Buffer.from('GIF89a....'), 10)).toBeNull();
    expect(sniffImageHead(Buffer.alloc(0), 0)).toBeNull();
  });
});
