/**
 * A fast path around ffprobe for the two most common still images. Spawning ffprobe costs about as
 * much as converting a small PNG or JPEG (process start and library loading, ~60 ms here), and a
 * small image's whole conversion is dominated by such fixed costs. For plain PNG and JPEG files
 * the facts a conversion needs sit in the first bytes, so they are read here instead, and the
 * answer is the very MediaInfo that `normaliseProbe(ffprobe)` gives for the same file (the
 * integration test compares the two on a set of files).
 *
 * Anything unusual returns null and goes to ffprobe: animated PNG (acTL), JPEG with Exif (an
 * orientation tag may rotate the displayed size), JPEG coding modes other than baseline, extended
 * or progressive Huffman, component counts other than 1 or 3, truncated or inconsistent headers.
 */
import { open } from 'node:fs/promises';
import { extname } from 'node:path';
import { pictureInfo, type MediaInfo } from './media-info';

/** Enough for the PNG chunks before the first IDAT and the JPEG segments before SOF in nearly every file. */
const HEAD_BYTES = 64 * 1024;

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * Reads the head of a file and returns its MediaInfo when it is a plain PNG or JPEG; null otherwise.
 * Only for names without an extension (the converter stores its input as `input`): ffprobe lets an
 * extension pick its demuxer (a `.jpg` opens as `image2`, with a bit rate), which the head alone
 * does not tell.
 */
export async function sniffImage(path: string): Promise<MediaInfo | null> {
  if (extname(path)) return null;
  const file = await open(path, 'r');
  try {
    const { size } = await file.stat();
    const head = Buffer.alloc(Math.min(HEAD_BYTES, size));
    const { bytesRead } = await file.read(head, 0, head.length, 0);
    return sniffImageHead(head.subarray(0, bytesRead), size);
  } finally {
    await file.close();
  }
}

/** Pure part of sniffImage: the first bytes of a file and its size. */
export function sniffImageHead(head: Buffer, size: number): MediaInfo | null {
  const dims = head.subarray(0, 8).equals(PNG_SIGNATURE)
    ? pngSize(head)
    : head[0] === 0xff && head[1] === 0xd8
      ? jpegSize(head)
      : null;
  if (!dims) return null;
  return pictureInfo({
    format: dims.format,
    size_bytes: size,
    width: dims.width,
    height: dims.height,
    codec: dims.codec,
  });
}

interface Dims {
  format: string;
  codec: string;
  width: number;
  height: number;
}

/** IHDR first; no acTL (animation) before the first IDAT; the first IDAT must be within the head. */
function pngSize(b: Buffer): Dims | null {
  let at = 8;
  let width = 0;
  let height = 0;
  for (let n = 0; at + 8 <= b.length; n++) {
    const length = b.readUInt32BE(at);
    const type = b.toString('latin1', at + 4, at + 8);
    if (n === 0) {
      if (type !== 'IHDR' || length !== 13 || at + 8 + 13 > b.length) return null;
      width = b.readUInt32BE(at + 8);
      height = b.readUInt32BE(at + 12);
      const bitDepth = b[at + 16];
      const colorType = b[at + 17];
      if (!width || !height || width > 0x7fffffff || height > 0x7fffffff) return null;
      if (![0, 2, 3, 4, 6].includes(colorType) || ![1, 2, 4, 8, 16].includes(bitDepth)) return null;
    } else if (type === 'acTL') {
      return null; // APNG: ffprobe picks the apng demuxer
    } else if (type === 'IDAT') {
      return { format: 'png_pipe', codec: 'png', width, height };
    }
    at += 12 + length;
  }
  return null;
}

/** Segments up to the first SOF; Exif, arithmetic/lossless/hierarchical coding and odd component counts are left to ffprobe. */
function jpegSize(b: Buffer): Dims | null {
  let at = 2;
  while (at + 4 <= b.length) {
    if (b[at] !== 0xff) return null;
    const marker = b[at + 1];
    if (marker === 0xff) {
      at++; // fill byte
      continue;
    }
    if (marker === 0xd8 || marker === 0xd9 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) return null; // no such marker before SOF in a sane file
    const length = b.readUInt16BE(at + 2);
    if (length < 2 || at + 2 + length > b.length) return null;
    if (marker === 0xe1 && b.toString('latin1', at + 4, at + 8) === 'Exif') return null;
    if (marker === 0xc0 || marker === 0xc1 || marker === 0xc2) {
      if (length < 8) return null;
      const precision = b[at + 4];
      const height = b.readUInt16BE(at + 5);
      const width = b.readUInt16BE(at + 7);
      const components = b[at + 9];
      if (precision !== 8 || !width || !height || (components !== 1 && components !== 3)) return null;
      return { format: 'jpeg_pipe', codec: 'mjpeg', width, height };
    }
    if (marker >= 0xc3 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) return null; // other SOF kinds
    if (marker === 0xda) return null; // scan before any frame header
    at += 2 + length;
  }
  return null;
}
