// The ffmpeg runner's limits against the real ffmpeg: timeout, abort, a missing binary, SIGKILL after
// the grace period, the output size cap, and progress that rises to 100.
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { probe, run, runningProcessCount, type FfmpegPass } from './index';
import { makeVideo } from './testing';
import {
  FFMPEG,
  PROBE,
  convert,
  dir,
  exists,
  outputPath,
  processGone,
  useMediaInputs,
} from './testing/media-workbench';

jest.setTimeout(30_000);
useMediaInputs();

describe('runner limits', () => {
  /** An ffmpeg that never ends on its own: a live test pattern read in real time. */
  function endlessPass(output: string): FfmpegPass {
    return {
      inputOptions: ['-hide_banner', '-nostdin', '-y', '-re', '-f', 'lavfi'],
      input: 'testsrc=size=160x120:rate=10',
      outputOptions: ['-c:v', 'libx264', '-preset', 'ultrafast', '-f', 'mp4'],
      output,
    };
  }

  it('a timeout kills ffmpeg and rejects with timeout', async () => {
    const out = outputPath('mp4');
    let pid = 0;
    // The pass never ends by itself (-re on an endless source): only the timeout stops it. The timeout
    // counts from the call, so it leaves room for ffmpeg to be spawned on a loaded machine first.
    const err = await run([endlessPass(out)], {
      timeoutMs: 3_000,
      outputPath: out,
      ffmpegPath: FFMPEG,
      onStart: (p) => (pid = p),
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'timeout' });
    expect(pid).toBeGreaterThan(0);
    expect(processGone(pid)).toBe(true);
    expect(runningProcessCount()).toBe(0);
    expect(await exists(out)).toBe(false);
  });

  it('an abort signal kills ffmpeg and rejects with canceled', async () => {
    const out = outputPath('mp4');
    const controller = new AbortController();
    let pid = 0;
    let started!: () => void;
    const spawned = new Promise<void>((r) => {
      started = r;
    });
    const running = run([endlessPass(out)], {
      timeoutMs: 20_000,
      outputPath: out,
      ffmpegPath: FFMPEG,
      signal: controller.signal,
      onStart: (p) => {
        pid = p;
        started();
        setTimeout(() => controller.abort(), 300);
      },
    }).catch((e: unknown) => e);
    await spawned; // ffmpeg is running: the abort is what ends it
    expect(runningProcessCount()).toBe(1);
    await new Promise<void>((r) => controller.signal.addEventListener('abort', () => r()));
    const err = await running; // the pass is endless (timeout 20 s): only the abort ends it
    expect(err).toMatchObject({ code: 'canceled' });
    expect(processGone(pid)).toBe(true);
    expect(runningProcessCount()).toBe(0);
  });

  it("a missing ffmpeg binary is an internal error, not the input's fault", async () => {
    const out = outputPath('mp4');
    await expect(
      run([endlessPass(out)], { timeoutMs: 5000, outputPath: out, ffmpegPath: join(dir, 'no-such-ffmpeg') }),
    ).rejects.toMatchObject({ code: 'internal' });
    expect(runningProcessCount()).toBe(0);
  });

  it('an already aborted signal starts nothing', async () => {
    const controller = new AbortController();
    controller.abort();
    const onStart = jest.fn();
    await expect(
      run([endlessPass(outputPath('mp4'))], {
        timeoutMs: 5000,
        outputPath: join(dir, 'x.mp4'),
        signal: controller.signal,
        onStart,
      }),
    ).rejects.toMatchObject({ code: 'canceled' });
    expect(onStart).not.toHaveBeenCalled();
  });

  it('ffmpeg ignoring SIGTERM is SIGKILLed after the grace period', async () => {
    // A stand-in ffmpeg: answers fluent-ffmpeg's capability queries, then notes every SIGTERM in a
    // file and carries on; only SIGKILL can end it.
    const fake = join(dir, 'stubborn-ffmpeg.sh');
    const marks = join(dir, 'stubborn-ffmpeg.marks');
    await writeFile(
      fake,
      `#!/bin/sh\ncase "$*" in *-version*|*-formats*|*-encoders*|*-codecs*|*-filters*) exec ffmpeg "$@";; esac\ntrap 'echo term >> ${marks}' TERM\necho started >> ${marks}\nwhile :; do sleep 0.1; done\n`,
    );
    await chmod(fake, 0o755);
    const out = outputPath('mp4');
    let pid = 0;
    const err = await run([endlessPass(out)], {
      timeoutMs: 1500,
      killGraceMs: 500,
      outputPath: out,
      ffmpegPath: fake,
      onStart: (p) => (pid = p),
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'timeout' });
    // It was running, got SIGTERM and survived it; it is gone now, so SIGKILL ended it.
    expect((await readFile(marks, 'utf8')).split('\n').filter(Boolean)).toEqual(['started', 'term']);
    expect(processGone(pid)).toBe(true);
    expect(runningProcessCount()).toBe(0);
  });

  it('an output over the size cap is stopped and removed', async () => {
    const out = outputPath('nut');
    // Raw frames as fast as ffmpeg can: ~29 KB each, so the 1 MB cap is passed almost at once.
    const flood: FfmpegPass = {
      inputOptions: ['-hide_banner', '-nostdin', '-y', '-f', 'lavfi'],
      input: 'testsrc=size=160x120:rate=25',
      outputOptions: ['-c:v', 'rawvideo', '-f', 'nut'],
      output: out,
    };
    const err = await run([flood], {
      timeoutMs: 10_000,
      maxOutputBytes: 1_000_000,
      sizeCheckIntervalMs: 50,
      outputPath: out,
      ffmpegPath: FFMPEG,
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'payload_too_large' });
    expect(await exists(out)).toBe(false);
  });

  it('a finished output over the cap is refused too', async () => {
    await expect(convert('wav', 'audio', {}, { maxOutputBytes: 1000 })).rejects.toMatchObject({
      code: 'payload_too_large',
    });
  });

  it('progress rises monotonically to 100', async () => {
    const long = await makeVideo({ path: join(dir, 'long.mp4'), seconds: 8, width: 640, height: 480, audio: true });
    const seen: number[] = [];
    await convert(
      'webm',
      { path: long, info: await probe(long, PROBE) },
      {},
      { onProgress: (p) => seen.push(p), progressIntervalS: 0.1 },
    );
    expect(seen[0]).toBe(0);
    expect(seen[seen.length - 1]).toBe(100);
    expect(seen.length).toBeGreaterThan(2);
    for (let i = 1; i < seen.length; i += 1) expect(seen[i]).toBeGreaterThan(seen[i - 1]);
    expect(seen.every((p) => Number.isInteger(p) && p >= 0 && p <= 100)).toBe(true);
  });
});
