import { progressStep, RateMeter, renderBar, renderJobLine, renderUploadLine } from './render';

describe('progress rendering', () => {
  it('draws a bar of the given width at any fraction', () => {
    expect(renderBar(0, 12)).toBe('[          ]');
    expect(renderBar(0.5, 12)).toBe('[=====>    ]');
    expect(renderBar(1, 12)).toBe('[==========]');
    expect(renderBar(7, 12)).toBe('[==========]');
    expect(renderBar(Number.NaN, 12)).toBe('[          ]');
  });

  it('an upload line has percent, bytes, rate and ETA', () => {
    const line = renderUploadLine({ sent: 12 * 1024 * 1024, total: 24 * 1024 * 1024, rate: 4 * 1024 * 1024 }, 120);
    expect(line).toMatch(/^upload +\[=+> *\] {2}50% {2}12\.0 MiB \/ 24\.0 MiB {2}4\.0 MiB\/s {2}ETA 3s$/);
  });

  it('names the file when there are several, and stays one terminal line', () => {
    const line = renderUploadLine({ sent: 1, total: 2, rate: 1, file: { index: 2, count: 3 } }, 50);
    expect(line.startsWith('upload 2/3')).toBe(true);
    expect(line.length).toBeLessThanOrEqual(49);
  });

  it('keeps the bar width steady while the text changes (no jumping redraws)', () => {
    const bar = (l: string) => /\[[^\]]*\]/.exec(l)![0].length;
    const a = renderUploadLine({ sent: 0, total: 100 }, 100);
    const b = renderUploadLine({ sent: 50, total: 100, rate: 10 }, 100);
    const c = renderJobLine('processing', 40, 100);
    expect(bar(a)).toBe(bar(b));
    expect(bar(b)).toBe(bar(c));
  });

  it('a plain line (no terminal) has no bar', () => {
    expect(renderJobLine('processing', 42, 0)).toBe('convert  42%  processing');
  });

  it('counts quarter steps for plain lines', () => {
    expect([0, 0.24, 0.25, 0.5, 0.99, 1].map((f) => progressStep(f))).toEqual([0, 0, 1, 2, 3, 4]);
  });
});

describe('RateMeter', () => {
  it('measures bytes per second over its window', () => {
    let t = 0;
    const m = new RateMeter(5000, () => t);
    m.add(0);
    expect(m.rate()).toBeUndefined();
    for (let i = 0; i < 10; i++) {
      t += 1000;
      m.add(2000);
    }
    expect(m.rate()).toBeCloseTo(2000, 0);
  });

  it('forgets samples older than the window', () => {
    let t = 0;
    const m = new RateMeter(2000, () => t);
    m.add(0);
    t = 1000;
    m.add(1_000_000); // a burst long ago
    for (let i = 0; i < 10; i++) {
      t += 1000;
      m.add(100);
    }
    expect(m.rate()).toBeLessThan(200);
  });
});
