// Media bombs against the running processes: a tiny PNG declaring 16000×16000, a FLAC of silence
// whose WAV would dwarf it, an .m3u8 that points at a local file, and a picture that passes every
// probe check but needs more memory than the converter's ffmpeg may have. Each job ends failed,
// `unprocessable`, with a message naming the limit, and stores no output.
import { execFile } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import path from 'node:path';
import * as Minio from 'minio';
import { makeAudio, makeDeclaredPng, makeImage, makeTempDir, watchFifo } from '../libs/media/src/testing';
import { Stack, json, waitFor } from '../test/stack';

jest.setTimeout(240_000);
const run = promisify(execFile);

describe('media bombs are refused, naming the limit', () => {
  const stack = new Stack();
  let tmp: { dir: string; remove: () => Promise<void> };
  let s3: Minio.Client;

  beforeAll(async () => {
    tmp = await makeTempDir('kiln-bombs-');
    // Defaults for every limit but the memory of ffmpeg, lowered so a modest picture exceeds it.
    await stack.start({ converters: 1, env: { KILN_FFMPEG_MEMORY_LIMIT: '200MiB' } });
    const url = new URL(stack.env.S3_ENDPOINT);
    s3 = new Minio.Client({
      endPoint: url.hostname,
      port: Number(url.port),
      useSSL: url.protocol === 'https:',
      accessKey: stack.env.S3_ACCESS_KEY,
      secretKey: stack.env.S3_SECRET_KEY,
    });
  });

  afterAll(async () => {
    await stack.stop();
    await tmp?.remove();
  });

  async function submit(file: string, filename: string, target: string) {
    const job = await json(
      stack.api('/v1/jobs', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ conversion: [{ target }] }),
      }),
    );
    const form = new FormData();
    form.append('file', new Blob([await readFile(file)]), filename);
    const up = await stack.api(`/v1/jobs/${job.id}/upload`, { method: 'POST', body: form });
    expect(up.status).toBe(201);
    return job.id as string;
  }

  const ended = (id: string) =>
    waitFor(
      `job ${id} to end`,
      async () => {
        const job = await json(stack.api(`/v1/jobs/${id}`));
        return ['completed', 'failed', 'canceled'].includes(job.status.code) ? job : undefined;
      },
      120_000,
    );

  async function storedOutputs(jobId: string): Promise<string[]> {
    const keys: string[] = [];
    for await (const item of s3.listObjectsV2(stack.env.S3_BUCKET, `outputs/${jobId}/`, true))
      keys.push((item as { name: string }).name);
    return keys;
  }

  async function expectRefused(jobId: string, message: RegExp) {
    const job = await ended(jobId);
    expect(job.status.code).toBe('failed');
    expect(job.errors).toEqual([
      expect.objectContaining({ code: 'unprocessable', source: 'conversion', message: expect.stringMatching(message) }),
    ]);
    expect(await json(stack.api(`/v1/jobs/${jobId}/output`))).toEqual([]);
    expect(await storedOutputs(jobId)).toEqual([]);
    return job;
  }

  it('a 16000×16000 16-bit RGBA PNG of a few dozen bytes is refused by the pixel limit', async () => {
    const png = await makeDeclaredPng({ path: path.join(tmp.dir, 'bomb.png'), width: 16000, height: 16000 });
    expect((await stat(png)).size).toBeLessThan(200);
    const id = await submit(png, 'bomb.png', 'jpg');
    await expectRefused(
      id,
      /: pixel limit exceeded: the picture is 16000×16000 \(256\.0 MP\); at most 134\.2 MP per frame \(KILN_MAX_PIXELS\)$/,
    );
  });

  it('a FLAC of silence whose WAV would be over 1,000 times its size is refused by the output limit', async () => {
    const flac = await makeAudio({
      path: path.join(tmp.dir, 'silence.flac'),
      seconds: 1800,
      format: 'flac',
      silent: true,
    });
    expect((await stat(flac)).size).toBeLessThan(1024 ** 2);
    const id = await submit(flac, 'silence.flac', 'wav');
    await expectRefused(
      id,
      /: output size limit exceeded: the wav output would be about 303 MiB \(1800 s × 2 channels × 44100 Hz × 2 bytes\); at most 256 MiB for this \d+ KiB input \(KILN_MAX_OUTPUT_RATIO 200 × the input, at least KILN_OUTPUT_RATIO_FLOOR 256 MiB\)$/,
    );
  });

  it('an .m3u8 naming a local file is refused without the file ever being opened', async () => {
    // The named file is a FIFO: opened for reading it would block the probe, and while a reader
    // waits a non-blocking open for writing succeeds (with no reader it fails with ENXIO).
    const fifo = path.join(tmp.dir, `secret-${process.pid}.ts`);
    let opened = -1;
    const watcher = await watchFifo(fifo);
    const playlist = path.join(tmp.dir, 'playlist.m3u8');
    await writeFile(playlist, `#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n${fifo}\n#EXT-X-ENDLIST\n`);
    const started = Date.now();
    const id = await submit(playlist, 'playlist.m3u8', 'mp3');
    try {
      await expectRefused(
        id,
        /: the input is not a readable media file \(input format not accepted: hls is a playlist or a list of other files/,
      );
    } finally {
      opened = await watcher.stop();
    }
    expect(opened).toBe(0);
    // The probe's own time limit (60 s) was not what ended it.
    expect(Date.now() - started).toBeLessThan(60_000);
  });

  it('a 48 MP picture that passes the probe but needs more than the memory limit is stopped by it', async () => {
    // A frame of a video goes through ffmpeg (an image would go through libvips, below).
    const video = path.join(tmp.dir, 'flat.mkv');
    await run('ffmpeg', [
      '-v',
      'error',
      '-f',
      'lavfi',
      '-i',
      'color=c=gray:s=8000x6000:d=0.04',
      '-frames:v',
      '1',
      '-c:v',
      'mjpeg',
      '-q:v',
      '2',
      '-y',
      video,
    ]);
    expect((await stat(video)).size).toBeLessThan(4 * 1024 ** 2);
    const id = await submit(video, 'flat.mkv', 'png');
    await expectRefused(
      id,
      /: memory limit exceeded: converting this input needs more than the 200 MiB ffmpeg may use \(KILN_FFMPEG_MEMORY_LIMIT\)/,
    );
    // The converter is still there and converts what fits.
    const small = await makeImage({ path: path.join(tmp.dir, 'small.png'), width: 640, height: 480 });
    const ok = await ended(await submit(small, 'small.png', 'jpg'));
    expect(ok.status.code).toBe('completed');
  });

  it('the same 48 MP picture as a PNG converts through libvips, streamed, in bounded memory', async () => {
    const png = await makeImage({ path: path.join(tmp.dir, 'flat.png'), width: 8000, height: 6000, solid: true });
    expect((await stat(png)).size).toBeLessThan(1024 ** 2);
    const converter = stack.apps.find((a) => a.app === 'converter')!;
    const peak = async () =>
      Number(/VmHWM:\s+(\d+) kB/.exec(await readFile(`/proc/${converter.child.pid}/status`, 'utf8'))![1]) * 1024;
    const before = await peak();
    const job = await ended(await submit(png, 'flat.png', 'jpg'));
    expect(job.status.code).toBe('completed');
    expect(job.output[0].content_type).toBe('image/jpeg');
    // The decoded picture alone is 144 MB (8000 × 6000 × 3): libvips reads it in strips, so the
    // converter's peak grows by far less.
    const grown = (await peak()) - before;
    expect(grown).toBeLessThan(100 * 1024 ** 2);
  });
});
