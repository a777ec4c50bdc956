import { parseConfig, type KilnConfig } from '../config';

/** The least environment a valid configuration needs, pointing at this machine's services (tests only). */
export const TEST_ENV: Readonly<Record<string, string>> = {
  KILN_API_KEYS: 'kiln_test_key_0123456789',
  DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/kiln',
  REDIS_URL: 'redis://127.0.0.1:6379',
  S3_ENDPOINT: 'http://127.0.0.1:7480',
  S3_ACCESS_KEY: 'access',
  S3_SECRET_KEY: 'secret',
  KILN_WEBHOOK_SECRET: 'whsec_0123456789abcdef',
};

/** A parsed configuration of TEST_ENV with these variables over it. */
export function testConfig(overrides: Record<string, string | undefined> = {}): KilnConfig {
  return parseConfig({ ...TEST_ENV, ...overrides });
}
