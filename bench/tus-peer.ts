// The peer the upload case compares Kiln with: @tus/server 2.4.5 with @tus/s3-store 2.0.7 on the same
// S3 server, run as its own process (node dist/bench/tus-peer.js). Prints "ready <port>" when listening.
// Settings: S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY, S3_REGION, TUS_BUCKET, TUS_PORT, TUS_PART_SIZE.
import { Server } from '@tus/server';
import { S3Store } from '@tus/s3-store';

function need(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

const datastore = new S3Store({
  partSize: Number(process.env.TUS_PART_SIZE ?? 16 * 1024 * 1024),
  s3ClientConfig: {
    bucket: need('TUS_BUCKET'),
    region: process.env.S3_REGION ?? 'us-east-1',
    endpoint: need('S3_ENDPOINT'),
    forcePathStyle: true,
    credentials: { accessKeyId: need('S3_ACCESS_KEY'), secretAccessKey: need('S3_SECRET_KEY') },
    // radosgw rejects the SDK's default aws-chunked trailing checksums (411 MissingContentLength).
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  },
});

const server = new Server({ path: '/files', datastore });
const port = Number(process.env.TUS_PORT ?? 0);
const http = server.listen(port, '127.0.0.1', () => {
  const address = http.address() as { port: number };
  process.stdout.write(`ready ${address.port}\n`);
});
process.once('SIGTERM', () => http.close(() => process.exit(0)));
