/**
 * Test media generated on the spot with ffmpeg's lavfi sources (testsrc, sine): nothing binary is
 * checked in. Each helper writes `path` and resolves with it.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';

export interface FixtureOptions {
  /** Default `ffmpeg` on PATH. */
  ffmpegPath?: string;
}

export interface VideoFixture extends FixtureOptions {
  path: string;
  seconds: number;
  width: number;
  height: number;
  audio: boolean;
  /** Default 25. */
  fps?: number;
  /** Container tags (`-metadata k=v`). */
  metadata?: Record<string, string>;
}

export type AudioFixtureFormat = 'wav' | 'mp3' | 'flac' | 'ogg' | 'm4a';

export interface AudioFixture extends FixtureOptions {
  path: string;
  seconds: number;
  format: AudioFixtureFormat;
  /** Default 44100. */
  sampleRate?: number;
  /** Default 2. */
  channels?: number;
  /** Embed a testsrc picture as cover art (`attached_pic`); mp3, flac and m4a only. */
  cover?: boolean;
  /** Silence instead of the sine: hours of it compress to a few hundred KiB of FLAC. */
  silent?: boolean;
}

export interface ImageFixture extends FixtureOptions {
  path: string;
  width: number;
  height: number;
  /** One flat colour instead of testsrc: a huge picture in a small file. */
  solid?: boolean;
}

/** A video from testsrc (+ a 440 Hz sine when `audio`); the container follows the extension (mp4, mkv, webm, mov…). */
export async function makeVideo(o: VideoFixture): Promise<string> {
  const lowerPath = o.path.toLowerCase();
  const webm = lowerPath.endsWith('.webm');
  const args = [
    '-f',
    'lavfi',
    '-i',
    `testsrc=size=${o.width}x${o.height}:rate=${o.fps ?? 25}:duration=${o.seconds}`,
    ...(o.audio ? ['-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${o.seconds}`] : []),
    ...(webm
      ? ['-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8']
      : ['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p']),
    ...(o.audio ? ['-c:a', webm ? 'libopus' : 'aac', '-ac', '2'] : []),
    ...Object.entries(o.metadata ?? {}).flatMap(([k, v]) => ['-metadata', `${k}=${v}`]),
    o.path,
  ];
  await ffmpeg(args, o.ffmpegPath);
  return o.path;
}

const AUDIO_CODECS: Record<AudioFixtureFormat, string> = {
  wav: 'pcm_s16le',
  mp3: 'libmp3lame',
  flac: 'flac',
  ogg: 'libvorbis',
  m4a: 'aac',
};

/** A 440 Hz sine, optionally with cover art. */
export async function makeAudio(o: AudioFixture): Promise<string> {
  if (o.cover && !['mp3', 'flac', 'm4a'].includes(o.format)) {
    throw new Error(`makeAudio: cover art is not supported for ${o.format}`);
  }
  const cover = o.cover
    ? {
        input: ['-f', 'lavfi', '-i', 'testsrc=size=64x64:rate=1:duration=1'],
        output: ['-map', '0:a', '-map', '1:v', '-frames:v', '1', '-c:v', 'mjpeg', '-disposition:v:0', 'attached_pic'],
      }
    : { input: [], output: [] };
  await ffmpeg(
    [
      ...(o.silent
        ? ['-f', 'lavfi', '-t', String(o.seconds), '-i', `anullsrc=sample_rate=${o.sampleRate ?? 44100}`]
        : ['-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=${o.sampleRate ?? 44100}:duration=${o.seconds}`]),
      ...cover.input,
      ...cover.output,
      '-ac',
      String(o.channels ?? 2),
      '-c:a',
      AUDIO_CODECS[o.format],
      '-f',
      o.format === 'm4a' ? 'ipod' : o.format,
      o.path,
    ],
    o.ffmpegPath,
  );
  return o.path;
}

/** One testsrc frame; the format follows the extension (png, jpg, webp, bmp, tiff, gif). */
export async function makeImage(o: ImageFixture): Promise<string> {
  await ffmpeg(
    [
      '-f',
      'lavfi',
      '-i',
      `${o.solid ? 'color=c=black:' : 'testsrc='}size=${o.width}x${o.height}:rate=1`,
      '-frames:v',
      '1',
      o.path,
    ],
    o.ffmpegPath,
  );
  return o.path;
}

/**
 * A PNG that declares a picture of any size (e.g. 16000×16000 at 16-bit RGBA, 2 GB decoded) in a
 * few dozen bytes: a valid signature, IHDR, one tiny IDAT (a zlib stream of a few zero rows) and
 * IEND, all with correct CRCs. Decoding it would allocate the whole declared frame.
 */
export async function makeDeclaredPng(o: {
  path: string;
  width: number;
  height: number;
  bitDepth?: 8 | 16;
  colorType?: 2 | 6;
}): Promise<string> {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(o.width, 0);
  ihdr.writeUInt32BE(o.height, 4);
  ihdr[8] = o.bitDepth ?? 16;
  ihdr[9] = o.colorType ?? 6; // RGBA
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), 8 + data.length);
    return out;
  };
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const idat = deflateSync(Buffer.alloc(4096));
  await writeFile(
    o.path,
    Buffer.concat([signature, chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0))]),
  );
  return o.path;
}

function crc32(bytes: Buffer): number {
  let crc = 0xffffffff;
  for (const b of bytes) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** Bytes no demuxer recognises (text with a NUL, no magic number). */
export async function makeNonMedia(path: string): Promise<string> {
  const line = 'Kiln test fixture: this is not audio, video or an image.\n';
  await writeFile(path, Buffer.concat([Buffer.from(line.repeat(64)), Buffer.alloc(16)]));
  return path;
}

/** A fresh temporary directory and its removal, for a suite's beforeAll/afterAll. */
export async function makeTempDir(prefix = 'kiln-media-'): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

function ffmpeg(args: string[], path = 'ffmpeg'): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      path,
      ['-hide_banner', '-nostdin', '-loglevel', 'error', '-y', ...args],
      { timeout: 60_000, killSignal: 'SIGKILL' },
      (err, _stdout, stderr) => {
        if (err) reject(new Error(`fixture ffmpeg failed: ${err.message}\n${stderr}`));
        else resolve();
      },
    );
  });
}
