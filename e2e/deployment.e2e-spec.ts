// The compose file users run is validated offline (no Docker engine needed) and describes the
// topology: MinIO, Redis with AOF, PostgreSQL, a migration step, gateway, assembler, converters.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '..');
const env = { ...process.env, KILN_API_KEYS: 'compose_check_key_0123456789', KILN_WEBHOOK_SECRET: 'compose_check_secret_0123' };

describe('docker-compose.yml', () => {
  it('passes `docker-compose config -q`', async () => {
    await expect(run('docker-compose', ['-f', 'docker-compose.yml', 'config', '-q'], { cwd: ROOT, env })).resolves.toBeDefined();
  });

  it('describes the whole topology with health-gated start order', async () => {
    const { stdout } = await run('docker-compose', ['-f', 'docker-compose.yml', 'config'], { cwd: ROOT, env, maxBuffer: 10 * 1024 * 1024 });
    for (const service of ['postgres:', 'redis:', 'minio:', 'migrate:', 'gateway:', 'assembler:', 'converter:']) expect(stdout).toContain(`  ${service}`);
    expect(stdout).toMatch(/appendonly/);
    expect(stdout).toMatch(/replicas: 2/);
    expect(stdout).toMatch(/condition: service_completed_successfully/);
    expect(stdout).toMatch(/condition: service_healthy/);
  });

  it('refuses to start without the required secrets', async () => {
    const bare = { ...process.env };
    delete bare.KILN_API_KEYS;
    await expect(run('docker-compose', ['-f', 'docker-compose.yml', 'config', '-q'], { cwd: ROOT, env: bare })).rejects.toThrow(/KILN_API_KEYS/);
  });
});
