// What users deploy, checked without a Docker engine:
// - docker-compose.yml (alone and with compose.override.example.yml) passes `docker-compose config`
//   and describes the topology: the bundled S3 server, Redis with AOF, PostgreSQL, a migration step,
//   gateway, assembler, converters;
// - every image (compose services and the Dockerfiles' bases) names a version: no `latest`, no
//   untagged image, nothing from MinIO's deleted `minio/` Docker Hub namespace;
// - safe defaults: S3 published on loopback only, secrets required, .env.example lists every setting;
// - `npm run db:migrate` migrates a database from a clean state.
// The S3 container's entrypoint is checked in s3-entrypoint.e2e-spec.ts.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client as PgClient } from 'pg';
// `yaml` comes with nx (a pinned dev dependency); docker-compose's own output is YAML too.
import { parse as parseYaml } from 'yaml';
import { adminUrl, databaseUrl } from '../libs/database/src/testing/test-database';
import { listMigrations } from '../libs/database/src/migrator';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '..');
const MAIN = 'docker-compose.yml';
const OVERRIDE = 'compose.override.example.yml';

const REQUIRED_SECRETS = {
  KILN_API_KEYS: 'compose_check_key_0123456789',
  KILN_WEBHOOK_SECRET: 'compose_check_secret_0123',
  KILN_METRICS_TOKEN: 'compose_check_metrics_0123',
  KILN_WEB_SESSION_SECRET: 'compose_check_web_session_secret_0123456789',
  S3_SECRET_KEY: 'compose_check_s3_secret_0123',
};
const EXTERNAL_S3 = {
  S3_ENDPOINT: 'https://s3.eu-central-1.amazonaws.com',
  S3_PUBLIC_ENDPOINT: 'https://s3.eu-central-1.amazonaws.com',
  S3_REGION: 'eu-central-1',
  S3_ACCESS_KEY: 'AKIAEXAMPLEKEY',
};

// Compose would also read an .env beside the file: an empty env file keeps a developer's .env out.
const emptyEnvFile = path.join(mkdtempSync(path.join(tmpdir(), 'kiln-compose-')), 'empty.env');
writeFileSync(emptyEnvFile, '');

/** The environment without anything compose reads, plus `vars`. */
function composeEnv(vars: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(KILN_|S3_|COMPOSE_)/.test(k)) env[k] = v;
  }
  return { ...env, ...vars };
}

async function compose(files: string[], args: string[], vars: Record<string, string>): Promise<string> {
  const fileArgs = files.flatMap((f) => ['-f', f]);
  const { stdout } = await run('docker-compose', ['--env-file', emptyEnvFile, ...fileArgs, ...args], {
    cwd: ROOT,
    env: composeEnv(vars),
    maxBuffer: 10 * 1024 * 1024,
  });
  return stdout;
}

interface ComposeService {
  image?: string;
  build?: unknown;
  ports?: Array<string | { target?: number; published?: number | string; host_ip?: string }>;
  environment?: Record<string, string>;
  deploy?: { replicas?: number };
  depends_on?: Record<string, unknown>;
}
interface ComposeConfig {
  services: Record<string, ComposeService>;
}

async function resolvedConfig(files: string[], vars: Record<string, string>): Promise<ComposeConfig> {
  return parseYaml(await compose(files, ['config'], vars)) as ComposeConfig;
}

/** Why an image reference is not acceptable, or null: it must name a tag other than `latest` (or a
 *  digest), and must not come from MinIO's deleted Docker Hub namespace. */
function imageProblem(ref: string): string | null {
  const [name, digest] = ref.split('@');
  const slash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  const tag = colon > slash ? name.slice(colon + 1) : '';
  const repo = colon > slash ? name.slice(0, colon) : name;
  const parts = repo.split('/');
  // A first part with a dot or a port (or localhost) is a registry; none means Docker Hub.
  const hub =
    parts.length === 1 ||
    !/[.:]|^localhost$/.test(parts[0]) ||
    /^(docker\.io|index\.docker\.io|registry-1\.docker\.io)$/.test(parts[0]);
  const hubPath = hub && /[.:]|^localhost$/.test(parts[0]) ? parts.slice(1) : parts;
  if (hub && hubPath.length > 1 && hubPath[0].toLowerCase() === 'minio')
    return `${ref}: MinIO deleted its minio/ namespace from Docker Hub`;
  if (!tag && !digest) return `${ref}: untagged (means latest)`;
  if (tag === 'latest') return `${ref}: tagged latest`;
  return null;
}

/** The base images of a Dockerfile's FROM lines, ARG defaults substituted; stage names skipped. */
function dockerfileBases(file: string): string[] {
  const text = readFileSync(path.join(ROOT, file), 'utf8');
  const args: Record<string, string> = {};
  const stages = new Set<string>();
  const bases: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const arg = /^ARG\s+([A-Za-z0-9_]+)=(\S+)/i.exec(line);
    if (arg) args[arg[1]] = arg[2].replace(/^["']|["']$/g, '');
    const from = /^FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) {
      const image = from[1].replace(/\$\{?([A-Za-z0-9_]+)\}?/g, (_, n: string) => args[n] ?? `<unset ${n}>`);
      if (!stages.has(image)) bases.push(image);
      if (from[2]) stages.add(from[2]);
    }
  }
  return bases;
}

// docker-compose is a Python program (~0.4 s a run); on a busy machine a run takes seconds.
const COMPOSE_TEST_MS = 120_000;

describe('docker-compose.yml', () => {
  it(
    'passes `docker-compose config -q`',
    async () => {
      await expect(compose([MAIN], ['config', '-q'], REQUIRED_SECRETS)).resolves.toBeDefined();
    },
    COMPOSE_TEST_MS,
  );

  it(
    'describes the whole topology with health-gated start order',
    async () => {
      const stdout = await compose([MAIN], ['config'], REQUIRED_SECRETS);
      const config = parseYaml(stdout) as ComposeConfig;
      expect(Object.keys(config.services).sort()).toEqual([
        'assembler',
        'converter',
        'document-converter',
        'gateway',
        'migrate',
        'postgres',
        'redis',
        's3',
      ]);
      expect(stdout).toMatch(/appendonly/);
      expect(config.services.converter.deploy?.replicas).toBe(2);
      // Media and documents in separate pools: each converter consumes its engines' queues only.
      expect(config.services.converter.environment?.KILN_CONVERTER_ENGINES).toBe('ffmpeg,vips');
      expect(config.services['document-converter'].environment?.KILN_CONVERTER_ENGINES).toBe('office');
      expect(config.services['document-converter'].build).toMatchObject({ target: 'document' });
      expect(config.services.converter.build).toMatchObject({ target: 'app' });
      expect(stdout).toMatch(/condition: service_completed_successfully/);
      for (const app of ['gateway', 'assembler', 'converter', 'document-converter']) {
        expect(config.services[app].depends_on).toMatchObject({
          s3: { condition: 'service_healthy' },
          postgres: { condition: 'service_healthy' },
        });
        expect(config.services[app].environment?.S3_ENDPOINT).toBe('http://s3:7480');
      }
    },
    COMPOSE_TEST_MS,
  );

  it(
    'names a version for every image: no latest, no untagged image, nothing from the deleted minio/ namespace',
    async () => {
      expect(imageProblem('minio/minio:RELEASE.2025-04-22T22-12-26Z')).toMatch(/minio/);
      expect(imageProblem('docker.io/minio/mc:RELEASE.2025-05-21T01-59-54Z')).toMatch(/minio/);
      expect(imageProblem('redis')).toMatch(/untagged/);
      expect(imageProblem('localhost:5000/redis')).toMatch(/untagged/);
      expect(imageProblem('postgres:latest')).toMatch(/latest/);
      expect(imageProblem('quay.io/minio/minio:RELEASE.2025-04-22T22-12-26Z')).toBeNull();
      expect(imageProblem('redis@sha256:0123')).toBeNull();

      for (const files of [[MAIN], [MAIN, OVERRIDE]]) {
        const config = await resolvedConfig(files, { ...REQUIRED_SECRETS, ...EXTERNAL_S3 });
        const problems: string[] = [];
        for (const [name, service] of Object.entries(config.services)) {
          // A service with only `build` would be tagged <project>_<service>:latest by compose.
          if (!service.image) problems.push(`${name}: no image (compose would tag its build latest)`);
          else {
            const problem = imageProblem(service.image);
            if (problem) problems.push(`${name}: ${problem}`);
          }
        }
        expect(problems).toEqual([]);
      }
      const bases = ['Dockerfile', 'deploy/s3/Dockerfile'].flatMap((f) =>
        dockerfileBases(f).map((image) => ({ f, image })),
      );
      expect(bases.length).toBeGreaterThanOrEqual(2);
      expect(
        bases.map(({ f, image }) => imageProblem(image) && `${f}: ${imageProblem(image)}`).filter(Boolean),
      ).toEqual([]);
    },
    COMPOSE_TEST_MS,
  );

  it(
    'builds the S3 service from this repository with the same script the tests start their S3 server with',
    async () => {
      const config = await resolvedConfig([MAIN], REQUIRED_SECRETS);
      expect(config.services.s3.build).toMatchObject({ dockerfile: 'deploy/s3/Dockerfile' });
      const dockerfile = readFileSync(path.join(ROOT, 'deploy/s3/Dockerfile'), 'utf8');
      expect(dockerfile).toMatch(/^COPY scripts\/s3-local\.sh \/opt\/kiln-s3\/s3-local\.sh$/m);
      expect(dockerfile).toMatch(/^ENTRYPOINT \["\/usr\/bin\/tini", "--", "\/opt\/kiln-s3\/s3-local\.sh"\]$/m);
      expect(dockerfile).toMatch(/^CMD \["run"\]$/m);
      expect(dockerfile).toMatch(/^USER ceph$/m);
    },
    COMPOSE_TEST_MS,
  );

  it(
    'publishes the S3 server on loopback only (and nothing but the gateway on every interface)',
    async () => {
      const config = await resolvedConfig([MAIN], REQUIRED_SECRETS);
      const published: string[] = [];
      for (const [name, service] of Object.entries(config.services)) {
        for (const port of service.ports ?? []) {
          const hostIp =
            typeof port === 'string' ? (/^(\d+\.\d+\.\d+\.\d+):\d+:\d+/.exec(port)?.[1] ?? '') : (port.host_ip ?? '');
          published.push(`${name} ${hostIp || 'all interfaces'}`);
        }
      }
      expect(published.filter((p) => p.startsWith('s3 '))).toEqual(['s3 127.0.0.1']);
      expect(published.filter((p) => p.endsWith('all interfaces'))).toEqual(['gateway all interfaces']);
    },
    COMPOSE_TEST_MS,
  );

  it(
    'refuses to start without each required secret, and has no default S3 password',
    async () => {
      for (const name of Object.keys(REQUIRED_SECRETS)) {
        const missing: Record<string, string> = { ...REQUIRED_SECRETS };
        delete missing[name];
        await expect(compose([MAIN], ['config', '-q'], missing)).rejects.toThrow(new RegExp(`${name}`));
        await expect(compose([MAIN], ['config', '-q'], { ...missing, [name]: '' })).rejects.toThrow(
          new RegExp(`${name}`),
        );
      }
      const text = readFileSync(path.join(ROOT, MAIN), 'utf8');
      expect(text).not.toMatch(/S3_SECRET_KEY:\s*\$\{S3_SECRET_KEY:?-/);
      const config = await resolvedConfig([MAIN], REQUIRED_SECRETS);
      expect(config.services.s3.environment?.S3_SECRET_KEY).toBe(REQUIRED_SECRETS.S3_SECRET_KEY);
      expect(config.services.gateway.environment?.KILN_METRICS_TOKEN).toBe(REQUIRED_SECRETS.KILN_METRICS_TOKEN);
    },
    COMPOSE_TEST_MS,
  );

  it(
    'with compose.override.example.yml: validates, runs no S3 container and points every app at the existing S3',
    async () => {
      await expect(
        compose([MAIN, OVERRIDE], ['config', '-q'], { ...REQUIRED_SECRETS, ...EXTERNAL_S3 }),
      ).resolves.toBeDefined();
      const config = await resolvedConfig([MAIN, OVERRIDE], { ...REQUIRED_SECRETS, ...EXTERNAL_S3 });
      expect(config.services.s3.deploy?.replicas).toBe(0);
      for (const app of ['gateway', 'assembler', 'converter', 'document-converter']) {
        expect(config.services[app].environment).toMatchObject({
          ...EXTERNAL_S3,
          S3_SECRET_KEY: REQUIRED_SECRETS.S3_SECRET_KEY,
        });
      }
      // The override asks for the endpoint instead of silently keeping the bundled one.
      const withoutEndpoint: Record<string, string> = { ...REQUIRED_SECRETS, ...EXTERNAL_S3 };
      delete withoutEndpoint.S3_ENDPOINT;
      await expect(compose([MAIN, OVERRIDE], ['config', '-q'], withoutEndpoint)).rejects.toThrow(/S3_ENDPOINT/);
    },
    COMPOSE_TEST_MS,
  );

  it(
    '.env.example lists every variable compose reads, with the required secrets left empty',
    () => {
      const example = readFileSync(path.join(ROOT, '.env.example'), 'utf8');
      const listed = new Map<string, string>();
      for (const m of example.matchAll(/^#?([A-Z][A-Z0-9_]*)=(.*)$/gm)) listed.set(m[1], m[2]);
      const read = new Set<string>();
      for (const file of [MAIN, OVERRIDE]) {
        for (const m of readFileSync(path.join(ROOT, file), 'utf8').matchAll(/\$\{([A-Z][A-Z0-9_]*)/g)) read.add(m[1]);
      }
      expect(read.size).toBeGreaterThan(10);
      expect([...read].filter((v) => !listed.has(v))).toEqual([]);
      for (const secret of Object.keys(REQUIRED_SECRETS)) expect(listed.get(secret)).toBe('');
    },
    COMPOSE_TEST_MS,
  );
});

// ---------------------------------------------------------------------------------------------
// The S3 image's entrypoint, run here as a process: `scripts/s3-local.sh run` with the settings
// deploy/s3/Dockerfile gives it (bucket list, required secret, the unprivileged ceph user when this
// runs as root), on free ports in a temporary folder.

// ---------------------------------------------------------------------------------------------

describe('npm run db:migrate', () => {
  const name = `kiln_t_${Math.floor(Date.now() / 1000).toString(36)}_${randomBytes(5).toString('hex')}`;

  afterAll(async () => {
    const admin = new PgClient({ connectionString: adminUrl() });
    await admin.connect();
    try {
      await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    } finally {
      await admin.end();
    }
  });

  it('builds, creates the database and applies every migration; a second run applies none', async () => {
    const env = { ...process.env, DATABASE_URL: databaseUrl(name) };
    const migrations = await listMigrations();
    const first = await run('npm', ['run', '--silent', 'db:migrate'], { cwd: ROOT, env, maxBuffer: 10 * 1024 * 1024 });
    expect(first.stdout).toMatch(new RegExp(`migrations on .*${name}: ${migrations.length} applied`));
    const db = new PgClient({ connectionString: databaseUrl(name) });
    await db.connect();
    try {
      const { rows } = await db.query<{ n: string }>(
        'SELECT count(*) AS n FROM _prisma_migrations WHERE finished_at IS NOT NULL',
      );
      expect(Number(rows[0].n)).toBe(migrations.length);
    } finally {
      await db.end();
    }
    const second = await run('npm', ['run', '--silent', 'db:migrate'], { cwd: ROOT, env, maxBuffer: 10 * 1024 * 1024 });
    expect(second.stdout).toMatch(new RegExp(`0 applied, ${migrations.length} already applied`));
  }, 180_000);
});
