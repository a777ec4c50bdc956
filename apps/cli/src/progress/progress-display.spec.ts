import { ProgressDisplay, progressMode } from './progress-display';

function sink(columns?: number) {
  const out: string[] = [];
  return { out, stream: { write: (t: string) => out.push(t), columns } };
}

describe('ProgressDisplay', () => {
  it('chooses bars on a terminal, plain lines otherwise, nothing for --json without a terminal', () => {
    expect(progressMode(true, false)).toBe('tty');
    expect(progressMode(true, true)).toBe('tty');
    expect(progressMode(false, false)).toBe('plain');
    expect(progressMode(false, true)).toBe('off');
  });

  it('plain mode prints a line per quarter of the upload and per status change', () => {
    const { out, stream } = sink();
    const p = new ProgressDisplay(stream, 'plain');
    p.startUpload(1000, 0);
    for (let i = 0; i < 100; i++) p.uploadBytes(10);
    p.endUpload();
    p.jobStatus('queued', 0);
    p.jobStatus('processing', 10);
    p.jobStatus('processing', 12);
    p.jobStatus('processing', 60);
    p.jobStatus('completed', 100);
    const lines = out.join('').trim().split('\n');
    expect(lines.filter((l) => l.startsWith('upload')).map((l) => /(\d+)%/.exec(l)![1])).toEqual([
      '0',
      '25',
      '50',
      '75',
      '100',
    ]);
    expect(lines.filter((l) => l.startsWith('convert'))).toEqual([
      'convert   0%  queued',
      'convert  10%  processing',
      'convert  60%  processing',
      'convert 100%  completed',
    ]);
    expect(out.join('')).not.toContain('\x1b'); // no terminal codes
  });

  it('tty mode redraws one line in place and ends it with a newline', () => {
    const { out, stream } = sink(100);
    const p = new ProgressDisplay(stream, 'tty');
    p.startUpload(100, 40);
    p.note('a message');
    p.endUpload();
    const text = out.join('');
    expect(text).toContain('\r\x1b[2Kupload');
    expect(text).toContain('resuming upload: 40% already on the server\n');
    expect(text).toContain('a message\n');
    expect(text.endsWith('\n')).toBe(true);
  });

  it('off mode writes nothing at all', () => {
    const { out, stream } = sink();
    const p = new ProgressDisplay(stream, 'off');
    p.startUpload(100, 50);
    p.uploadBytes(50);
    p.note('x');
    p.jobStatus('completed', 100);
    p.finish();
    expect(out).toEqual([]);
  });
});
