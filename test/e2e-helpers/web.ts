// The stack the web page e2e files share (one gateway, assembler and converter, small chunks, a
// session secret of its own), a WAV to send, and the session cookie requests they make.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { makeAudio, makeTempDir } from '../../libs/media/src/testing';
import { Stack } from '../stack';

export const SESSION_SECRET = `web-session-${randomBytes(24).toString('hex')}`;
export const CHUNK = 64 * 1024;

export class WebStack {
  readonly stack = new Stack();
  tmp!: { dir: string; remove: () => Promise<void> };
  wav!: string;

  async start(): Promise<void> {
    this.tmp = await makeTempDir('kiln-web-');
    [this.wav] = await Promise.all([
      makeAudio({ path: path.join(this.tmp.dir, 'tone.wav'), seconds: 3, format: 'wav' }),
      this.stack.start({
        gateways: 1,
        converters: 1,
        assemblers: 1,
        // Small chunks so the page sends the file as several parallel Content-Range PUTs.
        env: {
          KILN_WEB_SESSION_SECRET: SESSION_SECRET,
          KILN_CHUNK_SIZE_MIN: String(CHUNK),
          KILN_CHUNK_SIZE_MAX: String(CHUNK),
        },
      }),
    ]);
  }

  async stop(): Promise<void> {
    await this.stack.stop();
    await this.tmp?.remove();
  }

  /** Logs in with the form's encoding; the session cookie's value (undefined when refused) and the answer. */
  login = async (key: string, headers: Record<string, string> = {}) => {
    const res = await fetch(`${this.stack.url}/web/session`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams({ api_key: key }).toString(),
      redirect: 'manual',
    });
    const setCookie = res.headers.get('set-cookie') ?? '';
    const token = /^kiln_session=([^;]+);/.exec(setCookie)?.[1];
    return { res, setCookie, token, text: await res.text() };
  };
}

export const withCookie = (token: string, init: RequestInit & { headers?: Record<string, string> } = {}) => ({
  ...init,
  redirect: 'manual' as const,
  headers: { Cookie: `kiln_session=${token}`, ...init.headers },
});

/** Starts the web page's stack for the enclosing describe block (stopped after it). */
export function useWebStack(): WebStack {
  const w = new WebStack();
  beforeAll(() => w.start());
  afterAll(() => w.stop());
  return w;
}
