// ffmpeg and ffprobe runs that fail because of the machine, against the real tools: a crash (an
// ffmpeg that kills itself with SIGSEGV on a poison input), SIGKILL and SIGTERM from outside, a full
// disk (/dev/full), and a real EIO (reading /proc/self/mem). Each rejects `infrastructure`, never
// `unprocessable`; a damaged or non-media input still does.
import { readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type FfmpegPass, MediaError, probe, run, runningProcessCount } from './index';
import { makeAudio, makeCrashingTool, makePoisonAudio } from './testing';
import { FFMPEG, dir, exists, outputPath, processGone, useMediaInputs } from './testing/media-workbench';

jest.setTimeout(60_000);
useMediaInputs();

const GiB = 1024 ** 3;

async function rejection(p: Promise<unknown>): Promise<MediaError> {
  const err = await p.then(
    () => new Error('expected a rejection'),
    (e: unknown) => e,
  );
  if (!(err instanceof MediaError)) throw err;
  return err;
}

/** A WAV whose metadata holds the poison marker: valid media, which the crashing ffmpeg dies on. */
async function poisonWav(): Promise<string> {
  const path = join(dir, 'poison.wav');
  return (await exists(path)) ? path : makePoisonAudio(path);
}

function audioPass(input: string, output: string, format = 'mp3'): FfmpegPass {
  return { inputOptions: ['-hide_banner', '-nostdin', '-y'], input, outputOptions: ['-f', format], output };
}

/** A pass that runs until stopped: a live test pattern read in real time. */
function endlessPass(output: string): FfmpegPass {
  return {
    inputOptions: ['-hide_banner', '-nostdin', '-y', '-re', '-f', 'lavfi'],
    input: 'testsrc=size=160x120:rate=10',
    outputOptions: ['-c:v', 'libx264', '-preset', 'ultrafast', '-f', 'mp4'],
    output,
  };
}

describe('ffmpeg crashes', () => {
  let crashing: string;
  beforeAll(async () => {
    crashing = await makeCrashingTool(dir, 'ffmpeg');
  });

  it.each([
    ['without a memory limit', undefined],
    ['under the memory limit (prlimit execs it)', 4 * GiB],
  ])('a SIGSEGV is an infrastructure failure %s, not the memory limit nor the input', async (_how, limit) => {
    const out = outputPath('mp3');
    const err = await rejection(
      run([audioPass(await poisonWav(), out)], {
        timeoutMs: 20_000,
        outputPath: out,
        ffmpegPath: crashing,
        memoryLimitBytes: limit,
      }),
    );
    expect({ code: err.code, fault: err.fault, message: err.message, limit: err.limit }).toEqual({
      code: 'infrastructure',
      fault: 'signal',
      message: 'ffmpeg crashed (killed by SIGSEGV)',
      limit: undefined,
    });
    expect(await exists(out)).toBe(false);
    expect(runningProcessCount()).toBe(0);
  });

  it('the same ffmpeg converts an input without the marker', async () => {
    const out = join(dir, 'clean.mp3');
    const poison = await poisonWav();
    const clean = await makeAudio({ path: join(dir, 'clean.wav'), seconds: 1, format: 'wav' });
    await run([audioPass(clean, out)], {
      timeoutMs: 20_000,
      outputPath: out,
      ffmpegPath: crashing,
    });
    expect((await stat(out)).size).toBeGreaterThan(1000);
    // The marker is what it reacts to: the poison file is a valid WAV the real ffmpeg converts.
    const real = outputPath('mp3');
    await run([audioPass(poison, real)], { timeoutMs: 20_000, outputPath: real, ffmpegPath: FFMPEG });
    expect((await stat(real)).size).toBeGreaterThan(1000);
  });

  it('FFMPEG_PATH chooses the ffmpeg when the caller names none (as fluent-ffmpeg documents)', async () => {
    const out = outputPath('mp3');
    const before = process.env.FFMPEG_PATH;
    process.env.FFMPEG_PATH = crashing;
    try {
      const err = await rejection(run([audioPass(await poisonWav(), out)], { timeoutMs: 20_000, outputPath: out }));
      expect({ code: err.code, message: err.message }).toEqual({
        code: 'infrastructure',
        message: 'ffmpeg crashed (killed by SIGSEGV)',
      });
    } finally {
      if (before === undefined) delete process.env.FFMPEG_PATH;
      else process.env.FFMPEG_PATH = before;
    }
  });

  it('ffprobe crashing is an infrastructure failure too', async () => {
    const crashingProbe = await makeCrashingTool(dir, 'ffprobe');
    const err = await rejection(probe(await poisonWav(), { timeoutMs: 10_000, ffprobePath: crashingProbe }));
    expect({ code: err.code, fault: err.fault, message: err.message }).toEqual({
      code: 'infrastructure',
      fault: 'signal',
      message: 'ffprobe crashed (killed by SIGSEGV)',
    });
  });
});

describe('signals Kiln did not send', () => {
  const killedFromOutside = async (signal: NodeJS.Signals) => {
    const out = outputPath('mp4');
    let pid = 0;
    const err = await rejection(
      run([endlessPass(out)], {
        timeoutMs: 20_000,
        outputPath: out,
        ffmpegPath: FFMPEG,
        // Killed once it is writing, the way the OOM killer or an operator would.
        onStart: (p) => {
          pid = p;
          setTimeout(() => process.kill(p, signal), 500);
        },
      }),
    );
    expect(processGone(pid)).toBe(true);
    expect(await exists(out)).toBe(false);
    return err;
  };

  it('SIGKILL (the out-of-memory killer) is an infrastructure failure', async () => {
    const err = await killedFromOutside('SIGKILL');
    expect({ code: err.code, fault: err.fault, message: err.message }).toEqual({
      code: 'infrastructure',
      fault: 'signal',
      message: 'ffmpeg killed by SIGKILL: most likely the out-of-memory killer',
    });
  });

  it('SIGTERM, which ffmpeg catches and exits 255 on (or dies of, before its handler is set), is an infrastructure failure', async () => {
    const err = await killedFromOutside('SIGTERM');
    expect({ code: err.code, fault: err.fault }).toEqual({ code: 'infrastructure', fault: 'signal' });
    // Which of the two depends on how far ffmpeg had started when the signal came.
    expect([
      'ffmpeg was stopped by a signal Kiln did not send (exit code 255)',
      'ffmpeg killed by SIGTERM, a signal Kiln did not send',
    ]).toContain(err.message);
  });
});

describe('the disk', () => {
  it.each([
    ['a WAV (ffmpeg exits 1)', 'wav'],
    ['a Matroska file (ffmpeg 5.1 exits 0 with the file cut short)', 'matroska'],
  ])('a full disk while writing %s is an infrastructure failure', async (_what, format) => {
    // The output is a link to /dev/full: every write fails with ENOSPC.
    const out = join(dir, `full-${format}`);
    await symlink('/dev/full', out);
    const err = await rejection(
      run([audioPass(join(dir, 'audio.wav'), out, format)], { timeoutMs: 20_000, outputPath: out, ffmpegPath: FFMPEG }),
    );
    expect({ code: err.code, fault: err.fault, message: err.message }).toEqual({
      code: 'infrastructure',
      fault: 'no_space',
      message: "ffmpeg could not write: no space left on the converter's disk (ENOSPC)",
    });
    expect(err.stderrTail).toMatch(/No space left on device/);
    // The failed output (the link) is removed; what it pointed at is not.
    expect(await exists(out)).toBe(false);
    expect((await stat('/dev/full')).isCharacterDevice()).toBe(true);
  });

  it('an I/O error reading the input (EIO) is an infrastructure failure', async () => {
    // Reading /proc/self/mem from offset 0 fails in the kernel with EIO.
    const input = join(dir, 'eio-input');
    await symlink('/proc/self/mem', input);
    const out = outputPath('mp3');
    const err = await rejection(
      run([audioPass(input, out)], { timeoutMs: 20_000, outputPath: out, ffmpegPath: FFMPEG }),
    );
    expect({ code: err.code, fault: err.fault }).toEqual({ code: 'infrastructure', fault: 'io_error' });
    expect(err.stderrTail).toMatch(/<input>: Input\/output error/);
  });
});

describe('the input is to blame', () => {
  it('a text file and a truncated MP4 stay unprocessable', async () => {
    const text = join(dir, 'notes.txt');
    await writeFile(text, 'not media at all\n'.repeat(100));
    const video = await readFile(join(dir, 'video.mp4'));
    const truncated = join(dir, 'truncated.mp4');
    await writeFile(truncated, video.subarray(0, Math.floor(video.length / 2)));
    for (const input of [text, truncated]) {
      const out = outputPath('mp3');
      const err = await rejection(
        run([audioPass(input, out)], { timeoutMs: 20_000, outputPath: out, ffmpegPath: FFMPEG }),
      );
      expect({ input, code: err.code, fault: err.fault }).toEqual({ input, code: 'unprocessable', fault: undefined });
    }
  });
});
