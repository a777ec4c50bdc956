/**
 * What an input is, told from its first bytes (magic numbers), not from its name: the kind routes
 * each unit to the engine that makes its target (catalog.ts `engineFor`), and an impossible pair
 * (audio → pdf) is refused before any converter is asked. Pure: bytes in, kind out.
 *
 * The name is read only where the bytes cannot tell: plain text (csv vs txt) and OLE2 files whose
 * directory lies beyond the head (doc, xls, ppt).
 */
import type { InputKind } from './catalog';

export interface DetectedKind {
  kind: InputKind;
  /** A short format name: png, jpeg, mp4, docx, ole2, pdf, csv… */
  format: string;
}

/** Bytes of a file's head that detection reads (an OOXML zip names its parts in the first entries). */
export const KIND_HEAD_BYTES = 64 * 1024;

const ascii = (b: Uint8Array, at: number, len: number): string => {
  let s = '';
  for (let i = at; i < Math.min(b.length, at + len); i++) s += String.fromCharCode(b[i]);
  return s;
};
const startsWith = (b: Uint8Array, bytes: readonly number[], at = 0): boolean =>
  b.length >= at + bytes.length && bytes.every((v, i) => b[at + i] === v);

/** A Latin-1 view of the head, to look for part names inside zip and OLE2 containers. */
const latin1 = (b: Uint8Array): string => ascii(b, 0, b.length);

/** UTF-16LE, as OLE2 directory entries write names. */
const utf16 = (s: string): string => [...s].map((c) => `${c}\u0000`).join('');

const extensionOf = (filename: string | null | undefined): string => {
  const m = /\.([A-Za-z0-9]{1,8})$/.exec(filename ?? '');
  return m ? m[1].toLowerCase() : '';
};

/** Returns the kind of the file whose head is `head`, or null when it is none Kiln converts. */
export function detectInputKind(head: Uint8Array, filename?: string | null): DetectedKind | null {
  const b = head;
  if (b.length < 4) return textKind(b, filename);
  // Images
  if (startsWith(b, [0x89, 0x50, 0x4e, 0x47])) return { kind: 'image', format: 'png' };
  if (startsWith(b, [0xff, 0xd8, 0xff])) return { kind: 'image', format: 'jpeg' };
  if (ascii(b, 0, 4) === 'GIF8') return { kind: 'image', format: 'gif' };
  if (ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 4) === 'WEBP') return { kind: 'image', format: 'webp' };
  if (startsWith(b, [0x49, 0x49, 0x2a, 0x00]) || startsWith(b, [0x4d, 0x4d, 0x00, 0x2a]))
    return { kind: 'image', format: 'tiff' };
  if (ascii(b, 0, 2) === 'BM' && b.length >= 26) return { kind: 'image', format: 'bmp' };
  if (startsWith(b, [0x00, 0x00, 0x01, 0x00])) return { kind: 'image', format: 'ico' };
  // ISO base media (mp4, mov, m4a, avif, heic): the brand says which
  if (ascii(b, 4, 4) === 'ftyp') {
    const brands = ascii(b, 8, Math.min(64, readU32(b, 0) - 8));
    if (/avif|avis/.test(brands)) return { kind: 'image', format: 'avif' };
    if (/heic|heix|mif1|msf1/.test(ascii(b, 8, 4))) return { kind: 'image', format: 'heif' };
    if (/^M4A |^M4B /.test(ascii(b, 8, 4))) return { kind: 'audio', format: 'm4a' };
    return { kind: 'video', format: 'mp4' }; // audio-only mp4s are told apart by ffprobe (same engine)
  }
  if (ascii(b, 4, 4) === 'moov' || ascii(b, 4, 4) === 'mdat' || ascii(b, 4, 4) === 'wide')
    return { kind: 'video', format: 'mov' };
  if (startsWith(b, [0x1a, 0x45, 0xdf, 0xa3])) return { kind: 'video', format: 'matroska' };
  if (ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 4) === 'AVI ') return { kind: 'video', format: 'avi' };
  if (ascii(b, 0, 3) === 'FLV') return { kind: 'video', format: 'flv' };
  if (startsWith(b, [0x00, 0x00, 0x01, 0xba]) || startsWith(b, [0x00, 0x00, 0x01, 0xb3]))
    return { kind: 'video', format: 'mpeg' };
  // MPEG-TS: a sync byte opening three 188-byte packets in a row (one "G" alone is just text).
  if (b.length >= 377 && b[0] === 0x47 && b[188] === 0x47 && b[376] === 0x47)
    return { kind: 'video', format: 'mpegts' };
  // Audio
  if (ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 4) === 'WAVE') return { kind: 'audio', format: 'wav' };
  if (ascii(b, 0, 4) === 'FORM' && /AIF[FC]/.test(ascii(b, 8, 4))) return { kind: 'audio', format: 'aiff' };
  if (ascii(b, 0, 4) === 'fLaC') return { kind: 'audio', format: 'flac' };
  if (ascii(b, 0, 3) === 'ID3') return { kind: 'audio', format: 'mp3' };
  if (b[0] === 0xff && (b[1] & 0xe0) === 0xe0 && (b[1] & 0x06) !== 0) {
    // MPEG audio frame sync (layer bits non-zero) or ADTS AAC (layer 00)
    return { kind: 'audio', format: 'mp3' };
  }
  if (b[0] === 0xff && (b[1] & 0xf6) === 0xf0) return { kind: 'audio', format: 'aac' };
  if (ascii(b, 0, 4) === 'OggS') {
    const s = latin1(b.subarray(0, 512));
    if (/theora|\x80theora|OVP80|fishead/i.test(s)) return { kind: 'video', format: 'ogg' };
    return { kind: 'audio', format: 'ogg' };
  }
  if (ascii(b, 0, 4) === '#!AM') return { kind: 'audio', format: 'amr' };
  // Documents
  if (ascii(b, 0, 5) === '%PDF-') return { kind: 'pdf', format: 'pdf' };
  if (ascii(b, 0, 4) === 'PK\u0003\u0004') return zipKind(b, filename);
  if (startsWith(b, [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1])) return ole2Kind(b, filename);
  if (ascii(b, 0, 5) === '{\\rtf') return { kind: 'document', format: 'rtf' };
  return textKind(b, filename);
}

function readU32(b: Uint8Array, at: number): number {
  return ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
}

/** OOXML and OpenDocument are zips; their first entries say which (ODF's `mimetype` comes first, uncompressed). */
function zipKind(b: Uint8Array, filename?: string | null): DetectedKind | null {
  const s = latin1(b);
  const odf = /mimetypeapplication\/vnd\.oasis\.opendocument\.(text|spreadsheet|presentation)/.exec(s);
  if (odf) {
    const kind = odf[1] === 'text' ? 'document' : odf[1];
    return { kind: kind as InputKind, format: { text: 'odt', spreadsheet: 'ods', presentation: 'odp' }[odf[1]]! };
  }
  if (s.includes('word/')) return { kind: 'document', format: 'docx' };
  if (s.includes('xl/')) return { kind: 'spreadsheet', format: 'xlsx' };
  if (s.includes('ppt/')) return { kind: 'presentation', format: 'pptx' };
  // A zip whose part names lie past the head: the name decides among the office kinds only.
  const byName: Record<string, DetectedKind> = {
    docx: { kind: 'document', format: 'docx' },
    odt: { kind: 'document', format: 'odt' },
    xlsx: { kind: 'spreadsheet', format: 'xlsx' },
    ods: { kind: 'spreadsheet', format: 'ods' },
    pptx: { kind: 'presentation', format: 'pptx' },
    odp: { kind: 'presentation', format: 'odp' },
  };
  return s.includes('[Content_Types].xml') || s.includes('mimetype') ? (byName[extensionOf(filename)] ?? null) : null;
}

/** Legacy Office (doc, xls, ppt) is an OLE2 compound file; its stream names tell which. */
function ole2Kind(b: Uint8Array, filename?: string | null): DetectedKind | null {
  const s = latin1(b);
  if (s.includes(utf16('WordDocument'))) return { kind: 'document', format: 'doc' };
  if (s.includes(utf16('Workbook')) || s.includes(utf16('Book'))) return { kind: 'spreadsheet', format: 'xls' };
  if (s.includes(utf16('PowerPoint Document'))) return { kind: 'presentation', format: 'ppt' };
  const ext = extensionOf(filename);
  if (ext === 'doc') return { kind: 'document', format: 'doc' };
  if (ext === 'xls') return { kind: 'spreadsheet', format: 'xls' };
  if (ext === 'ppt') return { kind: 'presentation', format: 'ppt' };
  return null;
}

/** Text without NUL bytes: HTML by its start, CSV or TSV by its name or its shape, else plain text. */
function textKind(b: Uint8Array, filename?: string | null): DetectedKind | null {
  if (b.length === 0) return null;
  let start = 0;
  if (startsWith(b, [0xef, 0xbb, 0xbf])) start = 3;
  const sample = b.subarray(start, Math.min(b.length, 8192));
  for (const c of sample)
    if (c === 0 || (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d && c !== 0x0c)) return null;
  const text = ascii(sample, 0, sample.length);
  if (/^\s*(<!doctype html|<html|<head|<body|<\?xml[^>]*>\s*<html)/i.test(text))
    return { kind: 'document', format: 'html' };
  if (/^\s*(<\?xml|<svg)/i.test(text)) return null; // XML and SVG: not converted (an SVG may point at other files)
  const ext = extensionOf(filename);
  if (ext === 'csv' || ext === 'tsv') return { kind: 'spreadsheet', format: ext };
  if (ext === 'html' || ext === 'htm') return { kind: 'document', format: 'html' };
  if (ext === 'txt' || ext === 'md' || ext === 'text' || ext === '') return { kind: 'document', format: 'txt' };
  return null;
}
