// runCli with its own streams and environment, against an in-process stand-in server.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { runCli, type CliIo } from './cli';

function io(env: Record<string, string> = {}): CliIo & { out: () => string; err: () => string } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return {
    stdout: { write: (t: string) => stdout.push(t) },
    stderr: { write: (t: string) => stderr.push(t), isTTY: false },
    env: { XDG_CONFIG_HOME: '/nonexistent-kiln-test', ...env },
    cwd: process.cwd(),
    home: '/nonexistent-kiln-test',
    signal: new AbortController().signal,
    out: () => stdout.join(''),
    err: () => stderr.join(''),
  };
}

describe('runCli', () => {
  let server: Server;
  let url: string;
  let seenKeys: (string | undefined)[];

  beforeAll(async () => {
    seenKeys = [];
    server = createServer((req, res) => {
      const key = req.headers['x-api-key'] as string | undefined;
      seenKeys.push(key);
      res.setHeader('Content-Type', 'application/json');
      if (key !== 'right-key-0123456789') {
        res.writeHead(401).end(
          JSON.stringify({
            error: { code: 'unauthorized', message: 'The API key is not valid.', request_id: 'r-1' },
          }),
        );
        return;
      }
      res.end(
        JSON.stringify({
          items: [
            {
              id: 'j1',
              status: { code: 'completed', info: '' },
              progress: 100,
              input: [{ id: 'i', filename: 'a.wav', status: 'ready' }],
              conversion: [{ target: 'mp3' }],
              output: [],
              errors: [],
              created_at: '2026-11-24T10:00:00Z',
              tag: null,
            },
          ],
          next_cursor: null,
        }),
      );
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(() => new Promise((r) => server.close(r)));

  it('prints help on stdout with exit code 0', async () => {
    const t = io();
    expect(await runCli(['--help'], t)).toBe(0);
    expect(t.out()).toContain('Usage: kiln <command>');
    expect(t.err()).toBe('');
  });

  it('wrong usage and bad configuration exit with 2 and a message on stderr', async () => {
    const a = io();
    expect(await runCli(['nope'], a)).toBe(2);
    expect(a.err()).toBe('kiln: unknown command "nope"; see kiln --help\n');
    const b = io({ KILN_URL: 'ftp://x' });
    expect(await runCli(['jobs'], b)).toBe(2);
    expect(b.err()).toContain('KILN_URL must be http or https');
  });

  it("a refused request exits with 1, the API's message on stderr and, with --json, the error JSON on stdout; the key is never printed", async () => {
    const t = io({ KILN_URL: url, KILN_API_KEY: 'wrong-key-0123456789' });
    expect(await runCli(['jobs', '--json'], t)).toBe(1);
    expect(t.err()).toContain('kiln: The API key is not valid.');
    expect(JSON.parse(t.out())).toEqual({
      error: { code: 'unauthorized', status: 401, message: 'The API key is not valid.', request_id: 'r-1' },
    });
    expect(t.out() + t.err()).not.toContain('wrong-key-0123456789');
  });

  it('sends the key from the flag before the environment, and prints a table', async () => {
    const t = io({ KILN_URL: url, KILN_API_KEY: 'wrong-key-0123456789' });
    expect(await runCli(['jobs', '--api-key', 'right-key-0123456789'], t)).toBe(0);
    expect(seenKeys[seenKeys.length - 1]).toBe('right-key-0123456789');
    expect(t.out()).toMatch(
      /^ID +STATUS +PROGRESS +TARGET +FILES +CREATED +TAG\nj1 +completed +100% +mp3 +a\.wav +2026-11-24 10:00:00Z\n$/,
    );
  });
});
