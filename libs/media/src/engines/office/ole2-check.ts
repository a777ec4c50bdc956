/**
 * A password-protected Word, Excel or PowerPoint file (2007 and later) is not a zip at all: Office
 * wraps the encrypted package in an OLE2 compound file with the streams `EncryptionInfo` and
 * `EncryptedPackage` (MS-OFFCRYPTO). Their names sit in the compound file's directory, whose first
 * sector the header points at: reading the header and that one sector tells, without reading on.
 */
import { open } from 'node:fs/promises';

const OLE2_MAGIC = Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]);
const utf16 = (s: string) => Buffer.from(s, 'utf16le');
const ENCRYPTED_NAMES = [utf16('EncryptedPackage'), utf16('EncryptionInfo')];

/** Whether `path` is an OLE2 file holding an encrypted OOXML package. */
export async function isEncryptedOoxml(path: string): Promise<boolean> {
  const file = await open(path, 'r');
  try {
    const header = Buffer.alloc(512);
    const { bytesRead } = await file.read(header, 0, 512, 0);
    if (bytesRead < 512 || !header.subarray(0, 8).equals(OLE2_MAGIC)) return false;
    const sectorShift = header.readUInt16LE(0x1e);
    if (sectorShift !== 9 && sectorShift !== 12) return false;
    const sectorSize = 1 << sectorShift;
    const firstDirSector = header.readUInt32LE(0x30);
    const dir = Buffer.alloc(sectorSize);
    const read = await file.read(dir, 0, sectorSize, (firstDirSector + 1) * sectorSize);
    const names = dir.subarray(0, read.bytesRead);
    return ENCRYPTED_NAMES.some((n) => names.includes(n));
  } finally {
    await file.close();
  }
}
