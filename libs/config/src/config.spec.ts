import { ConfigError, describeConfig, hasHashTag, parseConfig } from './config';
import { TEST_ENV } from './testing';

const base = TEST_ENV;

describe('parseConfig', () => {
  it('applies defaults and parses lists and byte sizes', () => {
    const c = parseConfig({
      ...base,
      KILN_API_KEYS: 'kiln_test_key_0123456789, kiln_other_key_987654321',
      KILN_MAX_FILE_SIZE: '2GiB',
    });
    expect(c.KILN_PORT).toBe(3000);
    expect(c.KILN_API_KEYS).toEqual(['kiln_test_key_0123456789', 'kiln_other_key_987654321']);
    expect(c.KILN_MAX_FILE_SIZE).toBe(2 * 1024 ** 3);
    expect(c.S3_BUCKET).toBe('kiln');
    expect(c.KILN_ALLOW_PRIVATE_URLS).toBe(false);
  });

  it.each(['DATABASE_URL', 'REDIS_URL', 'S3_ENDPOINT', 'KILN_API_KEYS', 'S3_ACCESS_KEY', 'KILN_WEBHOOK_SECRET'])(
    'names a missing %s',
    (name) => {
      const env: Record<string, string> = { ...base };
      delete env[name];
      try {
        parseConfig(env);
        throw new Error('expected a ConfigError');
      } catch (err: unknown) {
        expect(err).toBeInstanceOf(ConfigError);
        expect((err as ConfigError).problems).toEqual([{ variable: name, message: expect.any(String) }]);
        expect((err as Error).message).toContain(name);
      }
    },
  );

  it('direct uploads: defaults, byte sizes, bounds and the CORS origins list', () => {
    const c = parseConfig(base);
    expect(c).toMatchObject({
      KILN_DIRECT_UPLOADS: true,
      KILN_DIRECT_PART_SIZE: 16 * 1024 ** 2,
      KILN_DIRECT_FORM_MAX: 16 * 1024 ** 2,
      KILN_DIRECT_URL_TTL_SECONDS: 3600,
      KILN_S3_CORS_ORIGINS: ['*'],
    });
    expect(c.KILN_S3_PUBLIC_URL).toBeUndefined();
    const set = parseConfig({
      ...base,
      KILN_DIRECT_UPLOADS: 'false',
      KILN_DIRECT_PART_SIZE: '64MiB',
      KILN_DIRECT_FORM_MAX: '0',
      KILN_S3_PUBLIC_URL: 'https://s3.example.com',
      KILN_S3_CORS_ORIGINS: 'https://a.example, https://b.example',
    });
    expect(set).toMatchObject({
      KILN_DIRECT_UPLOADS: false,
      KILN_DIRECT_PART_SIZE: 64 * 1024 ** 2,
      KILN_DIRECT_FORM_MAX: 0,
      KILN_S3_PUBLIC_URL: 'https://s3.example.com',
      KILN_S3_CORS_ORIGINS: ['https://a.example', 'https://b.example'],
    });
    for (const [variable, value] of [
      ['KILN_DIRECT_PART_SIZE', '4MiB'],
      ['KILN_DIRECT_PART_SIZE', '6GiB'],
      ['KILN_DIRECT_FORM_MAX', '6GiB'],
      ['KILN_DIRECT_URL_TTL_SECONDS', '59'],
      ['KILN_DIRECT_URL_TTL_SECONDS', '604801'],
      ['KILN_S3_PUBLIC_URL', 'not a url'],
      ['KILN_S3_CORS_ORIGINS', ' , '],
    ]) {
      expect(() => parseConfig({ ...base, [variable]: value })).toThrow(`invalid configuration: ${variable}`);
    }
  });

  describe('Redis Cluster mode', () => {
    const cluster = {
      ...base,
      REDIS_URL: '',
      REDIS_CLUSTER_NODES: '10.0.0.1:7000, redis://:pw@10.0.0.2:7001,[::1]:7002',
      KILN_QUEUE_PREFIX: '{kiln}',
    };

    it('takes seed nodes instead of REDIS_URL', () => {
      const c = parseConfig(cluster);
      expect(c.REDIS_CLUSTER_NODES).toEqual(['10.0.0.1:7000', 'redis://:pw@10.0.0.2:7001', '[::1]:7002']);
      expect(c.REDIS_URL).toBeUndefined();
    });

    it('refuses a queue prefix without a hash tag, naming the variable once', () => {
      for (const prefix of ['kiln', '{}kiln', 'kiln}{', '{}{kiln}']) {
        let problems: { variable: string; message: string }[] = [];
        try {
          parseConfig({ ...cluster, KILN_QUEUE_PREFIX: prefix });
        } catch (err: unknown) {
          problems = (err as ConfigError).problems;
        }
        expect({ prefix, problems }).toEqual({
          prefix,
          problems: [{ variable: 'KILN_QUEUE_PREFIX', message: expect.stringContaining('needs a hash tag') }],
        });
      }
      expect(parseConfig({ ...cluster, KILN_QUEUE_PREFIX: 'app:{kiln}' }).KILN_QUEUE_PREFIX).toBe('app:{kiln}');
    });

    it('needs one of REDIS_URL or REDIS_CLUSTER_NODES, and well-formed nodes', () => {
      expect(() => parseConfig({ ...base, REDIS_URL: '' })).toThrow(/REDIS_URL: is required/);
      expect(() => parseConfig({ ...cluster, REDIS_CLUSTER_NODES: 'host-without-port' })).toThrow(
        /REDIS_CLUSTER_NODES/,
      );
      expect(() => parseConfig({ ...cluster, REDIS_CLUSTER_NODES: 'http://a:1' })).toThrow(/REDIS_CLUSTER_NODES/);
    });

    it('finds a hash tag as Redis Cluster does (first { to the first } after it, not empty)', () => {
      expect([
        hasHashTag('{kiln}'),
        hasHashTag('a{b}c'),
        hasHashTag('{}'),
        hasHashTag('{}{kiln}'),
        hasHashTag('kiln'),
        hasHashTag('}{a'),
      ]).toEqual([true, true, false, false, false, false]);
    });
  });

  it('reads byte sizes by the rule the CLI shares: KiB and a bare k binary, kB decimal', () => {
    const c = parseConfig({
      ...base,
      KILN_JSON_BODY_LIMIT: '64KiB',
      KILN_CHUNK_SIZE_MIN: '512k',
      S3_PART_SIZE: '16MB',
    });
    expect([c.KILN_JSON_BODY_LIMIT, c.KILN_CHUNK_SIZE_MIN, c.S3_PART_SIZE]).toEqual([
      64 * 1024,
      512 * 1024,
      16_000_000,
    ]);
    expect(() => parseConfig({ ...base, KILN_MAX_FILE_SIZE: '-1GiB' })).toThrow(/KILN_MAX_FILE_SIZE/);
  });

  it('rejects a bad port and a bad byte size without echoing secrets', () => {
    expect(() => parseConfig({ ...base, KILN_PORT: 'abc' })).toThrow(/KILN_PORT/);
    expect(() => parseConfig({ ...base, KILN_MAX_FILE_SIZE: 'lots' })).toThrow(/KILN_MAX_FILE_SIZE/);
    try {
      parseConfig({ ...base, KILN_API_KEYS: 'short' });
    } catch (err: unknown) {
      expect((err as Error).message).toContain('KILN_API_KEYS');
      expect((err as Error).message).not.toContain('short');
    }
  });

  it('reads the web session settings: the secret is optional (derived when unset), at least 32 characters when set', () => {
    const c = parseConfig(base);
    expect(c.KILN_WEB_SESSION_SECRET).toBeUndefined();
    expect(c.KILN_WEB_SESSION_TTL_SECONDS).toBe(12 * 3600);
    const set = parseConfig({ ...base, KILN_WEB_SESSION_SECRET: 'w'.repeat(32), KILN_WEB_SESSION_TTL_SECONDS: '600' });
    expect(set.KILN_WEB_SESSION_SECRET).toBe('w'.repeat(32));
    expect(set.KILN_WEB_SESSION_TTL_SECONDS).toBe(600);
    expect(() => parseConfig({ ...base, KILN_WEB_SESSION_SECRET: 'too-short' })).toThrow(/KILN_WEB_SESSION_SECRET/);
    expect(() => parseConfig({ ...base, KILN_WEB_SESSION_TTL_SECONDS: '5' })).toThrow(/KILN_WEB_SESSION_TTL_SECONDS/);
    expect(describeConfig(set).KILN_WEB_SESSION_SECRET).toBe('***');
  });

  it('masks secrets when described', () => {
    const d = describeConfig(parseConfig({ ...base, DATABASE_URL: 'postgresql://u:pw@h:5432/db' }));
    expect(d.KILN_API_KEYS).toBe('***');
    expect(d.S3_SECRET_KEY).toBe('***');
    expect(d.DATABASE_URL).toBe('postgresql://u:***@h:5432/db');
  });
});
