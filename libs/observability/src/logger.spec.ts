import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { createLogger } from './logger';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _e, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  return { lines, log: createLogger('test', 'info', stream) };
}

describe('logs keep no key hash, token or secret', () => {
  const ownerKeyHash = createHash('sha256').update('kiln_some_api_key_0123456789').digest('hex');
  const jobToken = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';

  it('censors well-known fields', () => {
    const { lines, log } = capture();
    log.info(
      {
        ownerKeyHash,
        principal: { ownerKeyHash, kind: 'key' },
        apiKey: 'kiln_x',
        config: { secret: 's3cr3t', token: 't0k3n' },
      },
      'hello',
    );
    const text = lines.join('');
    expect(text).not.toContain(ownerKeyHash);
    for (const secret of ['kiln_x', 's3cr3t', 't0k3n']) expect(text).not.toContain(secret);
    expect(JSON.parse(text).principal.kind).toBe('key');
  });

  it('scrubs key hashes and job tokens quoted inside error texts', () => {
    const { lines, log } = capture();
    const err = {
      message: `Invalid \`prisma.job.create()\` invocation: { ownerKeyHash: "${ownerKeyHash}", token: "${jobToken}" }`,
      stack: `Error: ${ownerKeyHash}\n at x`,
    };
    log.error({ err, reason: `token ${jobToken}` }, 'unhandled error');
    const text = lines.join('');
    expect(text).not.toContain(ownerKeyHash);
    expect(text).not.toContain(jobToken);
    expect(JSON.parse(text).err.message).toContain('[redacted]');
    // Ids that are not credentials stay readable.
    const { lines: other, log: log2 } = capture();
    log2.error({ err: { message: 'job 0b7f5a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b failed' } }, 'x');
    expect(other.join('')).toContain('0b7f5a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b');
  });
});
