/**
 * What the zip container of an OOXML or OpenDocument file says before LibreOffice unpacks it: the
 * central directory (at the end of the file) lists every part with its compressed and uncompressed
 * size, so a zip bomb (a few KiB that inflate to gigabytes) and a password-protected ODF or zip are
 * refused without inflating anything. Only the directory is read (bounded), never the whole file;
 * the ODF manifest, a small part, is inflated as a stream with a cap.
 */
import { open } from 'node:fs/promises';
import { createInflateRaw } from 'node:zlib';
import { MediaError } from '../../media-error';
import { formatBytes } from '../../memory-limit';

/** All parts together may unpack to at most this. */
export const MAX_UNPACKED_BYTES = 2 * 1024 ** 3;
/** A part that unpacks to more than MIN_RATIO_CHECK_BYTES may be at most this many times its packed size. */
export const MAX_PART_RATIO = 200;
const MIN_RATIO_CHECK_BYTES = 16 * 1024 * 1024;
/** Parts in one document; real documents have tens to a few thousand. */
const MAX_PARTS = 20_000;
const MAX_DIRECTORY_BYTES = 16 * 1024 * 1024;
const MAX_MANIFEST_BYTES = 1024 * 1024;

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

interface Part {
  name: string;
  flags: number;
  method: number;
  packed: number;
  unpacked: number;
  localOffset: number;
}

const damaged = (what: string) => new MediaError('unprocessable', `the document is damaged: its zip container ${what}`);

/** Refuses a zip bomb, an encrypted zip and a password-protected ODF; returns quietly otherwise. */
export async function checkZipContainer(path: string, format: string): Promise<void> {
  const file = await open(path, 'r');
  try {
    const size = (await file.stat()).size;
    const parts = await readDirectory(file, size);
    let total = 0;
    for (const p of parts) {
      total += p.unpacked;
      if (p.flags & 1)
        throw new MediaError('unprocessable', `the ${format} file is password-protected (encrypted zip)`);
      if (p.unpacked > MIN_RATIO_CHECK_BYTES && p.unpacked > p.packed * MAX_PART_RATIO) {
        const ratio = Math.round(p.unpacked / Math.max(1, p.packed));
        throw new MediaError(
          'unprocessable',
          `the document looks like a zip bomb: its part ${p.name} unpacks ${ratio} times its size (${formatBytes(p.unpacked)}), more than the ${MAX_PART_RATIO}:1 limit`,
        );
      }
    }
    if (total > MAX_UNPACKED_BYTES) {
      throw new MediaError(
        'unprocessable',
        `the document looks like a zip bomb: it unpacks to ${formatBytes(total)}, more than the ${formatBytes(MAX_UNPACKED_BYTES)} limit`,
      );
    }
    const manifest = parts.find((p) => p.name === 'META-INF/manifest.xml');
    if (manifest && /^od[tsp]$/.test(format) && (await manifestEncrypted(file, manifest))) {
      throw new MediaError('unprocessable', `the ${format} document is password-protected`);
    }
  } finally {
    await file.close();
  }
}

type Handle = Awaited<ReturnType<typeof open>>;

async function readAt(file: Handle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  const { bytesRead } = await file.read(buf, 0, length, position);
  return buf.subarray(0, bytesRead);
}

async function readDirectory(file: Handle, size: number): Promise<Part[]> {
  // The end record is 22 bytes plus a comment of up to 64 KiB.
  const tailStart = Math.max(0, size - (22 + 0xffff));
  const tail = await readAt(file, tailStart, size - tailStart);
  let at = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === EOCD) {
      at = i;
      break;
    }
  }
  if (at < 0) throw damaged('has no central directory (the file is cut short or not a zip)');
  let count = tail.readUInt16LE(at + 10);
  let dirSize = tail.readUInt32LE(at + 12);
  let dirOffset = tail.readUInt32LE(at + 16);
  if (count === 0xffff || dirSize === 0xffffffff || dirOffset === 0xffffffff) {
    const locAt = at - 20;
    if (locAt < 0 || tail.readUInt32LE(locAt) !== ZIP64_LOCATOR) throw damaged('has a broken zip64 directory');
    const z64 = await readAt(file, Number(tail.readBigUInt64LE(locAt + 8)), 56);
    if (z64.length < 56 || z64.readUInt32LE(0) !== ZIP64_EOCD) throw damaged('has a broken zip64 directory');
    count = Number(z64.readBigUInt64LE(32));
    dirSize = Number(z64.readBigUInt64LE(40));
    dirOffset = Number(z64.readBigUInt64LE(48));
  }
  if (count > MAX_PARTS)
    throw new MediaError('unprocessable', `the document has ${count} parts, more than ${MAX_PARTS}`);
  if (dirSize > MAX_DIRECTORY_BYTES || dirOffset + dirSize > size) throw damaged('directory lies outside the file');
  const dir = await readAt(file, dirOffset, dirSize);
  const parts: Part[] = [];
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > dir.length || dir.readUInt32LE(p) !== CENTRAL) throw damaged('directory is broken');
    const nameLen = dir.readUInt16LE(p + 28);
    const extraLen = dir.readUInt16LE(p + 30);
    const commentLen = dir.readUInt16LE(p + 32);
    const part: Part = {
      name: dir.toString('utf8', p + 46, p + 46 + nameLen),
      flags: dir.readUInt16LE(p + 8),
      method: dir.readUInt16LE(p + 10),
      packed: dir.readUInt32LE(p + 20),
      unpacked: dir.readUInt32LE(p + 24),
      localOffset: dir.readUInt32LE(p + 42),
    };
    readZip64Sizes(dir.subarray(p + 46 + nameLen, p + 46 + nameLen + extraLen), part);
    parts.push(part);
    p += 46 + nameLen + extraLen + commentLen;
  }
  return parts;
}

/** The zip64 extra field (0x0001) holds the sizes and offset that are 0xFFFFFFFF in the record, in this order. */
function readZip64Sizes(extra: Buffer, part: Part): void {
  let i = 0;
  while (i + 4 <= extra.length) {
    const id = extra.readUInt16LE(i);
    const len = extra.readUInt16LE(i + 2);
    if (id === 0x0001) {
      let q = i + 4;
      const next = () => {
        const v = q + 8 <= i + 4 + len && q + 8 <= extra.length ? Number(extra.readBigUInt64LE(q)) : 0;
        q += 8;
        return v;
      };
      if (part.unpacked === 0xffffffff) part.unpacked = next();
      if (part.packed === 0xffffffff) part.packed = next();
      if (part.localOffset === 0xffffffff) part.localOffset = next();
      return;
    }
    i += 4 + len;
  }
}

/** Whether the ODF manifest names encryption data for any part (a document saved with a password). */
async function manifestEncrypted(file: Handle, part: Part): Promise<boolean> {
  const header = await readAt(file, part.localOffset, 30);
  if (header.length < 30 || header.readUInt32LE(0) !== LOCAL) throw damaged('has a broken part header');
  const dataStart = part.localOffset + 30 + header.readUInt16LE(26) + header.readUInt16LE(28);
  const packed = await readAt(file, dataStart, Math.min(part.packed, MAX_MANIFEST_BYTES));
  const text = part.method === 0 ? packed.toString('utf8') : await inflateCapped(packed);
  return /manifest:encryption-data/.test(text);
}

function inflateCapped(packed: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const inflate = createInflateRaw();
    const chunks: Buffer[] = [];
    let total = 0;
    inflate.on('data', (c: Buffer) => {
      total += c.length;
      if (total > MAX_MANIFEST_BYTES) {
        inflate.destroy();
        resolve(Buffer.concat(chunks).toString('utf8'));
        return;
      }
      chunks.push(c);
    });
    inflate.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    inflate.on('error', () => reject(damaged('has a manifest that does not unpack')));
    inflate.end(packed);
  });
}
