#!/usr/bin/env node
// A tiny callback receiver for trying Kiln locally: prints each callback and whether its
// X-Kiln-Signature verifies. Usage: KILN_WEBHOOK_SECRET=... node scripts/callback-receiver.mjs [port]
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';

const port = Number(process.argv[2] ?? 4000);
const secret = process.env.KILN_WEBHOOK_SECRET;

function verify(body, header) {
  if (!secret || !header) return false;
  const parts = Object.fromEntries(header.split(',').map((p) => p.split('=', 2)));
  const expected = createHmac('sha256', secret).update(`${parts.t}.${body}`).digest('hex');
  const fresh = Math.abs(Date.now() / 1000 - Number(parts.t)) < 300;
  return fresh && expected.length === parts.v1?.length && timingSafeEqual(Buffer.from(expected), Buffer.from(parts.v1));
}

createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    const job = JSON.parse(body || '{}');
    console.log(
      `${new Date().toISOString()} ${req.headers['x-kiln-event']} job ${job.id} → ${job.status?.code}` +
        ` (delivery ${req.headers['x-kiln-delivery']}, attempt ${req.headers['x-kiln-attempt']}, signature ${verify(body, req.headers['x-kiln-signature']) ? 'valid' : 'INVALID'})`,
    );
    for (const o of job.output ?? []) console.log(`  output ${o.filename} (${o.size} bytes): ${o.uri}`);
    for (const e of job.errors ?? []) console.log(`  error ${e.code}: ${e.message}`);
    res.writeHead(200).end('ok');
  });
}).listen(port, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${port}/hook`));
