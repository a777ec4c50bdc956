// The classifier of ffmpeg/ffprobe exits, on stderr tails and exit data recorded from ffmpeg 5.1 here
// (-loglevel error): a full tmpfs, /dev/full, a read of /proc/self/mem (a real EIO), signals, and
// inputs that are damaged or not media at all.
import { exitOfFluentError, toolFault } from './tool-exit';

const exit = (stderr: string, exitCode: number | null = 1, signal: string | null = null) => ({
  signal,
  exitCode,
  stderr,
});

describe('toolFault: the machine failed', () => {
  it('a full disk while writing a WAV (exit 1)', () => {
    const stderr = [
      'av_interleaved_write_frame(): No space left on device',
      'Error writing trailer of <output>: No space left on device',
      'Error closing file <output>: No space left on device',
    ].join('\n');
    expect(toolFault('ffmpeg', exit(stderr))).toEqual({
      fault: 'no_space',
      message: "ffmpeg could not write: no space left on the converter's disk (ENOSPC)",
    });
  });

  it('a full disk before the MP4 header was written (exit 1)', () => {
    const stderr = [
      'Could not write header for output file #0 (incorrect codec parameters ?): No space left on device',
      'Error initializing output stream 0:0 -- ',
    ].join('\n');
    expect(toolFault('ffmpeg', exit(stderr))?.fault).toBe('no_space');
  });

  it('a full disk under a Matroska output, where ffmpeg 5.1 exits 0 with the file cut short', () => {
    const stderr = [
      'Error writing trailer of <output>: No space left on device',
      'Error closing file <output>: No space left on device',
    ].join('\n');
    expect(toolFault('ffmpeg', exit(stderr, 0))?.fault).toBe('no_space');
  });

  it('a quota reached (EDQUOT)', () => {
    expect(toolFault('ffmpeg', exit('Error writing trailer of <output>: Disk quota exceeded'))?.fault).toBe('no_space');
  });

  it('an I/O error reading the input (EIO), from ffmpeg and ffprobe', () => {
    expect(toolFault('ffmpeg', exit('<input>: Input/output error'))).toEqual({
      fault: 'io_error',
      message: "ffmpeg hit an input/output error on the converter's disk (EIO)",
    });
    expect(toolFault('ffprobe', exit('<input>: Input/output error'))?.fault).toBe('io_error');
  });

  it('a crash: killed by SIGSEGV, with nothing on stderr', () => {
    expect(toolFault('ffmpeg', exit('', null, 'SIGSEGV'))).toEqual({
      fault: 'signal',
      message: 'ffmpeg crashed (killed by SIGSEGV)',
    });
    expect(toolFault('ffmpeg', exit('', null, 'SIGBUS'))?.message).toBe('ffmpeg crashed (killed by SIGBUS)');
    expect(toolFault('ffprobe', exit('', null, 'SIGABRT'))?.message).toBe('ffprobe crashed (killed by SIGABRT)');
  });

  it('the out-of-memory killer: SIGKILL, even after decode warnings', () => {
    const stderr = '[h264 @ 0x55] error while decoding MB 3 7, bytestream -5';
    expect(toolFault('ffmpeg', exit(stderr, null, 'SIGKILL'))).toEqual({
      fault: 'signal',
      message: 'ffmpeg killed by SIGKILL: most likely the out-of-memory killer',
    });
  });

  it('a stop from outside Kiln: SIGTERM caught by ffmpeg is exit 255 with nothing printed', () => {
    expect(toolFault('ffmpeg', exit('', 255))).toEqual({
      fault: 'signal',
      message: 'ffmpeg was stopped by a signal Kiln did not send (exit code 255)',
    });
    expect(toolFault('ffmpeg', exit('', null, 'SIGHUP'))?.message).toBe(
      'ffmpeg killed by SIGHUP, a signal Kiln did not send',
    );
  });
});

describe('toolFault: the input is to blame (null)', () => {
  it.each([
    [
      'a truncated MP4',
      '[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55a2] moov atom not found\n<input>: Invalid data found when processing input',
    ],
    ['a text file', '<input>: Invalid data found when processing input'],
    ['a truncated PNG', 'Cannot determine format of input stream 0:0 after EOF\nError marking filters as finished'],
    ['a refused demuxer', "[hls @ 0x5614] Format not on whitelist 'mov,matroska'\n<input>: Invalid argument"],
    [
      'a decoder failing on damaged data',
      '[h264 @ 0x55] Invalid NAL unit size (1207 > 312).\nError while decoding stream #0:0: Invalid data found when processing input',
    ],
  ])('%s (exit 1)', (_what, stderr) => {
    expect(toolFault('ffmpeg', exit(stderr))).toBeNull();
    expect(toolFault('ffprobe', exit(stderr))).toBeNull();
  });

  it('a clean exit, and exit code 255 from ffprobe (which does not catch signals)', () => {
    expect(toolFault('ffmpeg', exit('', 0))).toBeNull();
    expect(toolFault('ffprobe', exit('', 255))).toBeNull();
  });
});

describe("exitOfFluentError: fluent-ffmpeg's wording", () => {
  it('reads the signal or the exit code', () => {
    expect(exitOfFluentError('ffmpeg was killed with signal SIGSEGV')).toEqual({ signal: 'SIGSEGV', exitCode: null });
    expect(exitOfFluentError('ffmpeg exited with code 1: <input>: Invalid data found when processing input')).toEqual({
      signal: null,
      exitCode: 1,
    });
    expect(exitOfFluentError('ffmpeg exited with code 255: ')).toEqual({ signal: null, exitCode: 255 });
  });
});
