import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ResumeStore, resumeKey, stateDir, type ResumeEntry } from './resume-store';

describe('resumeKey', () => {
  const files = [{ path: '/data/a.wav', size: 100, mtimeMs: 1700000000123.4 }];
  const key = resumeKey('http://h:3000', files, 'mp3', { audio_bitrate: 192, sample_rate: 44100 });

  it('is the same for the same server, files, target and options (option order does not matter)', () => {
    expect(resumeKey('http://h:3000/', files, 'MP3', { sample_rate: 44100, audio_bitrate: 192 })).toBe(key);
  });

  it.each([
    ['another server', () => resumeKey('http://other:3000', files, 'mp3', { audio_bitrate: 192, sample_rate: 44100 })],
    [
      'a changed file (size)',
      () => resumeKey('http://h:3000', [{ ...files[0], size: 101 }], 'mp3', { audio_bitrate: 192, sample_rate: 44100 }),
    ],
    [
      'a changed file (mtime)',
      () =>
        resumeKey('http://h:3000', [{ ...files[0], mtimeMs: 1700000009000 }], 'mp3', {
          audio_bitrate: 192,
          sample_rate: 44100,
        }),
    ],
    [
      'another path',
      () =>
        resumeKey('http://h:3000', [{ ...files[0], path: '/data/b.wav' }], 'mp3', {
          audio_bitrate: 192,
          sample_rate: 44100,
        }),
    ],
    ['another target', () => resumeKey('http://h:3000', files, 'ogg', { audio_bitrate: 192, sample_rate: 44100 })],
    ['other options', () => resumeKey('http://h:3000', files, 'mp3', { audio_bitrate: 128, sample_rate: 44100 })],
  ])('differs for %s', (_what, other) => {
    expect(other()).not.toBe(key);
  });
});

describe('stateDir', () => {
  it('is KILN_STATE_DIR, else XDG_STATE_HOME/kiln, else ~/.local/state/kiln', () => {
    expect(stateDir({ KILN_STATE_DIR: '/s', XDG_STATE_HOME: '/x' }, '/home/u')).toBe('/s');
    expect(stateDir({ XDG_STATE_HOME: '/x' }, '/home/u')).toBe('/x/kiln');
    expect(stateDir({}, '/home/u')).toBe('/home/u/.local/state/kiln');
  });
});

describe('ResumeStore', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'kiln-cli-state-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const entry = (job: string): ResumeEntry => ({
    server: 'http://h',
    job_id: job,
    target: 'mp3',
    files: [{ path: '/a', input_id: 'i' }],
    created_at: 'now',
  });

  it('keeps entries by key across instances, and removes them', async () => {
    const store = new ResumeStore(path.join(dir, 'nested', 'kiln'));
    expect(await store.get('k1')).toBeUndefined();
    await store.put('k1', entry('j1'));
    await new ResumeStore(store.dir).put('k2', entry('j2'));
    expect((await store.get('k1'))?.job_id).toBe('j1');
    expect(Object.keys(await store.all()).sort()).toEqual(['k1', 'k2']);
    await store.remove('k1');
    expect(await store.get('k1')).toBeUndefined();
    expect((await store.get('k2'))?.job_id).toBe('j2');
  });

  it('writes a file only its owner can read (it holds job tokens)', async () => {
    const store = new ResumeStore(dir);
    await store.put('k', { ...entry('j'), job_token: 'abc' });
    expect((await stat(store.file)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(store.file, 'utf8')).entries.k.job_token).toBe('abc');
  });

  it('starts empty over an unreadable file', async () => {
    const store = new ResumeStore(dir);
    await import('node:fs/promises').then((f) => f.writeFile(store.file, 'not json'));
    expect(await store.get('k')).toBeUndefined();
    await store.put('k', entry('j'));
    expect((await store.get('k'))?.job_id).toBe('j');
  });
});
