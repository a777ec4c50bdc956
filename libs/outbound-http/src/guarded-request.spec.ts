import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KilnError } from '@kiln/contracts';
import { getFollowingRedirects, guardedRequest } from './guarded-request';
import { MAX_REDIRECTS } from './targets';
import { TransferClock } from './transfer-clock';

let base = '';
const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://local');
  const hop = Number(url.searchParams.get('hop') ?? 0);
  if (url.pathname === '/loop') return res.writeHead(302, { Location: `/loop?hop=${hop + 1}` }).end();
  if (url.pathname === '/hops')
    return res
      .writeHead(hop < 2 ? 307 : 200, hop < 2 ? { Location: `/hops?hop=${hop + 1}` } : {})
      .end(hop < 2 ? '' : 'done');
  if (url.pathname === '/silent') return; // never answers
  let body = '';
  req.on('data', (c: Buffer) => (body += c.toString()));
  req.on('end', () => res.writeHead(200).end(`${req.method} ${body}`));
});

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const clocks: TransferClock[] = [];
function clock(idleMs = 5_000, totalMs = 10_000): TransferClock {
  const c = new TransferClock({
    idleMs,
    totalMs,
    idleError: (host, answered) => new Error(`idle ${host} ${answered}`),
    totalError: () => new Error('total'),
  });
  clocks.push(c);
  return c;
}
afterEach(() => {
  for (const c of clocks.splice(0)) c.close();
});

async function text(res: http.IncomingMessage): Promise<string> {
  let s = '';
  for await (const chunk of res) s += String(chunk);
  return s;
}

describe('guardedRequest', () => {
  it('refuses a literal private address with invalid_input unless private URLs are allowed', async () => {
    const refused = guardedRequest(new URL(`${base}/x`), {
      method: 'GET',
      headers: {},
      allowPrivate: false,
      clock: clock(),
    });
    await expect(refused).rejects.toBeInstanceOf(KilnError);
    await expect(refused).rejects.toMatchObject({
      code: 'invalid_input',
      message: expect.stringContaining('127.0.0.1 is a private or reserved address (loopback'),
    });
    const res = await guardedRequest(new URL(`${base}/x`), {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain' },
      body: 'hello',
      allowPrivate: true,
      clock: clock(),
    });
    expect(res.statusCode).toBe(200);
    expect(await text(res)).toBe('POST hello');
  });

  it('refuses a host name that resolves to a private address at connect time', async () => {
    const port = new URL(base).port;
    await expect(
      guardedRequest(new URL(`http://localhost:${port}/x`), {
        method: 'GET',
        headers: {},
        allowPrivate: false,
        clock: clock(),
      }),
    ).rejects.toMatchObject({
      code: 'invalid_input',
      message: expect.stringContaining('resolves to a private or reserved address'),
    });
  });

  it("fails with the clock's idle error when the remote does not answer", async () => {
    const c = clock(200, 5_000);
    await expect(
      guardedRequest(new URL(`${base}/silent`), { method: 'GET', headers: {}, allowPrivate: true, clock: c }),
    ).rejects.toThrow('idle 127.0.0.1 false');
    expect(c.failure).toEqual(new Error('idle 127.0.0.1 false'));
  });
});

describe('getFollowingRedirects', () => {
  it('follows redirects by hand and says where the answer came from', async () => {
    const answer = await getFollowingRedirects(new URL(`${base}/hops`), {
      headers: {},
      allowPrivate: true,
      clock: clock(),
    });
    expect(answer.redirects).toBe(2);
    expect(answer.url.pathname + answer.url.search).toBe('/hops?hop=2');
    expect(await text(answer.response)).toBe('done');
  });

  it(`stops after ${MAX_REDIRECTS} redirects`, async () => {
    await expect(
      getFollowingRedirects(new URL(`${base}/loop`), { headers: {}, allowPrivate: true, clock: clock() }),
    ).rejects.toMatchObject({ reason: 'too_many_redirects' });
    // Each hop is checked like the first URL (checkRedirect, see targets.spec.ts): here the loopback one.
    await expect(
      getFollowingRedirects(new URL(`${base}/loop`), { headers: {}, allowPrivate: false, clock: clock() }),
    ).rejects.toBeInstanceOf(KilnError);
  });

  it('maps an error opening a hop with the hop it was for', async () => {
    const mapped = getFollowingRedirects(
      new URL('http://127.0.0.1:1/x'),
      { headers: {}, allowPrivate: true, clock: clock() },
      (err, hop) => new Error(`${hop.host}: ${(err as Error).message}`),
    );
    await expect(mapped).rejects.toThrow(/^127\.0\.0\.1:1: connect ECONNREFUSED/);
  });
});
