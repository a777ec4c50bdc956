// The kiln CLI end to end: the real command (node dist/apps/cli/src/main.js) as an OS process
// against a gateway, an assembler and a converter (real PostgreSQL, Redis, S3 and ffmpeg).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { probe } from '../libs/media/src/probe';
import { makeAudio, makeNonMedia, makeTempDir } from '../libs/media/src/testing';
import { Stack, json, sleep, waitFor } from '../test/stack';

jest.setTimeout(120_000);

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'dist/apps/cli/src/main.js');
const MiB = 1024 * 1024;

interface CliRun {
  child: ChildProcess;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

describe('kiln CLI (real processes)', () => {
  const stack = new Stack();
  let tmp: { dir: string; remove: () => Promise<void> };
  let home: string;
  let stateDir: string;
  let wav: string;

  beforeAll(async () => {
    tmp = await makeTempDir('kiln-cli-');
    home = path.join(tmp.dir, 'home');
    stateDir = path.join(tmp.dir, 'state');
    await mkdir(home);
    wav = await makeAudio({ path: path.join(tmp.dir, 'tone.wav'), seconds: 2, format: 'wav' });
    await stack.start({ gateways: 1, converters: 1, assemblers: 1 });
  });

  afterAll(async () => {
    await stack.stop();
    await tmp?.remove();
  });

  /** The CLI with only the environment a user would give it (no inherited KILN_*, XDG_*). */
  function start(args: string[], env: Record<string, string> = {}): CliRun {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: tmp.dir,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: home,
        KILN_URL: stack.url,
        KILN_API_KEY: stack.apiKey,
        KILN_STATE_DIR: stateDir,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>(
      (resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
    );
    return { child, done };
  }

  const kiln = (args: string[], env?: Record<string, string>) => start(args, env).done;

  async function outDir(name: string): Promise<string> {
    const dir = path.join(tmp.dir, name);
    await mkdir(dir, { recursive: true });
    return dir;
  }

  async function stateEntries(): Promise<Record<string, { job_id: string; files: { upload_id?: string }[] }>> {
    const file = path.join(stateDir, 'uploads.json');
    return existsSync(file) ? JSON.parse(await readFile(file, 'utf8')).entries : {};
  }

  async function chunkBytesReceived(): Promise<number> {
    const text = await (await fetch(`${stack.url}/metrics`)).text();
    const line = text
      .split('\n')
      .find((l) => l.startsWith('kiln_upload_bytes_received_total{') && l.includes('kind="chunk"'));
    return line ? Number(line.trim().split(/\s+/).pop()) : 0;
  }

  const probeFormat = async (file: string) => (await probe(file, { timeoutMs: 30_000 })).format;

  it('converts a WAV to MP3 with an option, saves the output and prints JSON naming the job', async () => {
    const out = await outDir('out-one');
    const r = await kiln(['convert', wav, '--to', 'mp3', '--option', 'audio_bitrate=96', '--out', out, '--json']);
    expect(r.stderr).toBe(''); // --json without a terminal: no progress at all
    expect(r.code).toBe(0);
    const answer = JSON.parse(r.stdout);
    expect(answer.job_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(answer.status).toBe('completed');
    expect(answer.outputs).toHaveLength(1);
    const saved = answer.outputs[0].path as string;
    expect(saved).toBe(path.join(out, 'tone.mp3'));
    expect((await stat(saved)).size).toBe(answer.outputs[0].size);
    expect(await probeFormat(saved)).toBe('mp3');
    const job = await json(stack.api(`/v1/jobs/${answer.job_id}`));
    expect(job.conversion[0]).toMatchObject({ target: 'mp3', options: { audio_bitrate: 96 } });
    expect(job.input[0]).toMatchObject({ filename: 'tone.wav', status: 'ready' });
    expect(await stateEntries()).toEqual({}); // nothing left to resume
  });

  it('converts two files in one job into two outputs, printing the saved paths', async () => {
    const second = await makeAudio({ path: path.join(tmp.dir, 'second.wav'), seconds: 1, format: 'wav', channels: 1 });
    const out = await outDir('out-two');
    const r = await kiln(['convert', wav, second, '--to', 'ogg', '-o', out, '--tag', 'two-files']);
    expect(r.code).toBe(0);
    const paths = r.stdout.trim().split('\n');
    expect(paths.sort()).toEqual([path.join(out, 'second.ogg'), path.join(out, 'tone.ogg')]);
    for (const p of paths) expect(await probeFormat(p)).toBe('ogg');
    expect(r.stderr).toMatch(/upload/); // plain progress lines on a non-terminal stderr
    const list = await json(stack.api('/v1/jobs?limit=5'));
    const job = list.items.find((j: { tag: string }) => j.tag === 'two-files');
    expect(job.input.map((i: { filename: string }) => i.filename)).toEqual(['tone.wav', 'second.wav']);
    expect(job.output).toHaveLength(2);
  });

  it('resumes a killed proxied upload: the same job and upload session, and stored bytes are not sent again', async () => {
    // 140 s of 44.1 kHz stereo PCM: about 23.6 MiB.
    const big = await makeAudio({ path: path.join(tmp.dir, 'long.wav'), seconds: 140, format: 'wav' });
    const size = (await stat(big)).size;
    const out = await outDir('out-resume');
    const args = [
      'convert',
      big,
      '--to',
      'mp3',
      '--option',
      'audio_bitrate=64',
      '--out',
      out,
      '--json',
      '--chunk-size',
      '2MiB',
      '--parallel',
      '2',
      // Chunks through the gateway (the direct path's resume is in cli-direct.e2e-spec.ts).
      '--proxied',
    ];

    // The first run is slowed down so that it can be killed mid-upload.
    const first = start([...args, '--limit-rate', '3MiB']);
    const saved = await waitFor(
      'the upload session in the state file',
      async () => {
        const entry = Object.values(await stateEntries())[0];
        return entry?.files[0]?.upload_id ? entry : undefined;
      },
      30_000,
      50,
    );
    const uploadId = saved.files[0].upload_id!;
    await waitFor(
      'some chunks stored',
      async () => (await json(stack.api(`/v1/uploads/${uploadId}`))).received_bytes >= 4 * MiB,
      30_000,
      50,
    );
    first.child.kill('SIGKILL');
    expect((await first.done).signal).toBe('SIGKILL');

    // The chunk that was on the wire is dropped by the gateway; wait until the stored bytes stop changing.
    let before = -1;
    const stored = await waitFor(
      'stored bytes to settle',
      async () => {
        const now = (await json(stack.api(`/v1/uploads/${uploadId}`))).received_bytes as number;
        const settled = now === before;
        before = now;
        await sleep(300);
        return settled ? now : undefined;
      },
      30_000,
      0,
    );
    expect(stored).toBeGreaterThan(0);
    expect(stored).toBeLessThan(size);
    const countedBefore = await chunkBytesReceived();

    // The same files, target and options: the same run, continued (the speed limit is not part of it).
    const second = await kiln(args);
    expect(second.code).toBe(0);
    const answer = JSON.parse(second.stdout);
    expect(answer.job_id).toBe(saved.job_id); // the same job
    expect(await probeFormat(answer.outputs[0].path)).toBe('mp3');
    const session = await json(stack.api(`/v1/uploads/${uploadId}`)); // the same upload session, now complete
    expect(session).toMatchObject({ status: 'complete', received_bytes: size, job_id: saved.job_id });
    // Only the missing bytes went through the gateway the second time.
    expect((await chunkBytesReceived()) - countedBefore).toBe(size - stored);
    expect(await stateEntries()).toEqual({});
  });

  it("fails with the API's messages: unknown target, bad option value, wrong API key, a failed conversion", async () => {
    const unknown = await kiln(['convert', wav, '--to', 'xyz']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('unknown target "xyz"');

    const badOption = await kiln(['convert', wav, '--to', 'mp3', '--option', 'audio_bitrate=9999']);
    expect(badOption.code).not.toBe(0);
    expect(badOption.stderr).toContain('conversion.0.options.audio_bitrate: must be between 32 and 512');

    const wrongKey = 'kiln_wrong_key_0123456789abcdef';
    const unauthorized = await kiln(['convert', wav, '--to', 'mp3'], { KILN_API_KEY: wrongKey });
    expect(unauthorized.code).not.toBe(0);
    expect(unauthorized.stderr).toContain('The API key is not valid.');
    expect(unauthorized.stderr).toContain('401');
    expect(unauthorized.stderr + unauthorized.stdout).not.toContain(wrongKey);
    expect(await stateEntries()).toEqual({}); // no job was made by any of them

    // One of two files is not media: the job fails with its errors, and the good output is saved all the same.
    const notMedia = await makeNonMedia(path.join(tmp.dir, 'notes.bin'));
    const out = await outDir('out-failed');
    const failed = await kiln(['convert', notMedia, wav, '--to', 'mp3', '--json', '--out', out]);
    expect(failed.code).not.toBe(0);
    const answer = JSON.parse(failed.stdout);
    const job = await json(stack.api(`/v1/jobs/${answer.error.job_id}`));
    expect(job.status.code).toBe('failed');
    expect(job.errors.length).toBeGreaterThan(0);
    for (const e of job.errors) expect(failed.stderr).toContain(e.message);
    expect(answer.error.errors).toEqual(job.errors);
    expect(answer.error.outputs.map((o: { path: string }) => o.path)).toEqual([path.join(out, 'tone.mp3')]);
    expect(await probeFormat(path.join(out, 'tone.mp3'))).toBe('mp3');
  });

  it('lists jobs, shows one, cancels one, lists formats; reads a config file; flags win over the environment', async () => {
    const jobs = await kiln(['jobs', '--json', '--limit', '50']);
    expect(jobs.code).toBe(0);
    const list = JSON.parse(jobs.stdout);
    const completed = list.items.find((j: { status: { code: string } }) => j.status.code === 'completed');
    expect(completed).toBeDefined();

    const status = await kiln(['status', completed.id, '--json']);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ id: completed.id, status: { code: 'completed' } });
    const text = await kiln(['status', completed.id]);
    expect(text.stdout).toContain(completed.id);
    expect(text.stdout).toContain(completed.output[0].filename);

    const created = await json(
      stack.api('/v1/jobs', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ process: false, input: [{ type: 'upload' }], conversion: [{ target: 'mp3' }] }),
      }),
    );
    const cancel = await kiln(['cancel', created.id]);
    expect(cancel.code).toBe(0);
    expect(cancel.stdout).toContain('canceled');
    expect((await json(stack.api(`/v1/jobs/${created.id}`))).status.code).toBe('canceled');

    const formats = await kiln(['formats', '--json']);
    const mp3 = JSON.parse(formats.stdout).find((t: { target: string }) => t.target === 'mp3');
    expect(Object.keys(mp3.options)).toContain('audio_bitrate');

    const config = path.join(tmp.dir, 'config.json');
    await writeFile(config, JSON.stringify({ url: stack.url, api_key: stack.apiKey }));
    const fromFile = await kiln(['jobs', '--json', '--config', config], { KILN_URL: '', KILN_API_KEY: '' });
    expect(fromFile.code).toBe(0);
    expect(JSON.parse(fromFile.stdout).items.length).toBeGreaterThan(0);
    const flagWins = await kiln(['jobs', '--api-key', 'kiln_wrong_key_0123456789abcdef']);
    expect(flagWins.code).not.toBe(0);
    expect(flagWins.stderr).toContain('The API key is not valid.');
  });
});
