// The media lib against the real ffprobe and ffmpeg: generated inputs probe as what they are; a
// non-media, truncated or empty file, a hanging probe and a corrupt input are refused as they should be.
import { chmod, truncate, writeFile, copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findTarget } from '@kiln/contracts';
import { buildConversion, MediaError, probe, run } from './index';
import { makeNonMedia } from './testing';
import { FFMPEG, PROBE, dir, exists, inputs, outputPath, useMediaInputs } from './testing/media-workbench';

jest.setTimeout(30_000);
useMediaInputs();

describe('fixtures + probe', () => {
  it('generates and probes the inputs', () => {
    expect(inputs.video.info).toMatchObject({
      kind: 'video',
      width: 320,
      height: 240,
      video_codec: 'h264',
      audio_codec: 'aac',
      streams: { video: 1, audio: 1 },
    });
    expect(inputs.video.info.duration_s).toBeCloseTo(2, 1);
    expect(inputs.silent.info).toMatchObject({ kind: 'video', streams: { video: 1, audio: 0 } });
    expect(inputs.audio.info).toMatchObject({
      kind: 'audio',
      format: 'wav',
      audio_codec: 'pcm_s16le',
      audio_channels: 2,
      sample_rate: 44100,
    });
    expect(inputs.image.info).toMatchObject({
      kind: 'image',
      format: 'png_pipe',
      width: 320,
      height: 240,
      duration_s: null,
    });
  });

  it('a non-media file is unprocessable, with a human message', async () => {
    const path = await makeNonMedia(join(dir, 'notes.bin'));
    const err = await probe(path, PROBE).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MediaError);
    expect(err).toMatchObject({ code: 'unprocessable' });
    expect((err as MediaError).message).toMatch(/not audio, video or an image/);
    expect((err as MediaError).message).not.toContain(dir); // no server paths
  });

  it('a probe that hangs is killed at its timeout', async () => {
    const fake = join(dir, 'hanging-ffprobe.sh');
    await writeFile(fake, '#!/bin/sh\nexec sleep 30\n');
    await chmod(fake, 0o755);
    // The fake sleeps 30 s: only the probe's own timer can end it with code 'timeout'.
    await expect(probe(inputs.video.path, { timeoutMs: 300, ffprobePath: fake })).rejects.toMatchObject({
      code: 'timeout',
    });
  });

  it('a truncated video is unprocessable; an empty file too', async () => {
    const cut = join(dir, 'cut.mp4');
    await copyFile(inputs.video.path, cut);
    await truncate(cut, 4000);
    await expect(probe(cut, PROBE)).rejects.toMatchObject({ code: 'unprocessable' });
    const empty = join(dir, 'empty.mp4');
    await writeFile(empty, '');
    await expect(probe(empty, PROBE)).rejects.toMatchObject({ code: 'unprocessable', message: 'the file is empty' });
  });
});

describe('refusals', () => {
  it('audio-only → mp4 is unsupported media', () => {
    const plan = buildConversion({
      target: findTarget('mp4')!,
      options: {},
      input: inputs.audio.info,
      inputPath: inputs.audio.path,
      outputPath: join(dir, 'never.mp4'),
    });
    expect(plan).toMatchObject({
      kind: 'unsupported',
      code: 'unsupported_media_type',
      message: expect.stringMatching(/^input has no video stream; mp4 needs video/),
    });
  });

  it('ffmpeg failing on a corrupt input is unprocessable, with the stderr tail, and leaves no output', async () => {
    const bad = await makeNonMedia(join(dir, 'fake.mp4'));
    const out = outputPath('mp4');
    const plan = buildConversion({
      target: findTarget('mp4')!,
      options: {},
      input: inputs.video.info,
      inputPath: bad,
      outputPath: out,
    });
    if (plan.kind !== 'ok') throw new Error(plan.message);
    const err = await run(plan.passes, { timeoutMs: 10_000, outputPath: out, ffmpegPath: FFMPEG }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'unprocessable' });
    expect((err as MediaError).stderrTail).toMatch(/Invalid data found/);
    expect((err as MediaError).stderrTail).not.toContain(dir);
    expect(await exists(out)).toBe(false);
  });
});
