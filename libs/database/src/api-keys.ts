import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { KilnError, type ErrorDetail } from '@kiln/contracts';
import type { Prisma, PrismaClient } from './generated/client';

/**
 * Managed API keys (table `api_keys`): a key is shown once at creation and only its SHA-256 is
 * stored, the same hash jobs are owned by (`owner_key_hash`). Used by the gateway (/v1/keys) and by
 * `kiln keys … --database`, so the first admin key can be made without one.
 */

export const API_KEY_SCOPES = ['jobs:read', 'jobs:write', 'uploads:write', 'admin'] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];
/** Keys of KILN_API_KEYS (bootstrap keys): every scope but `admin`. */
export const BOOTSTRAP_SCOPES: readonly ApiKeyScope[] = ['jobs:read', 'jobs:write', 'uploads:write'];
/** Every managed key starts with this, so a leaked one is recognisable (secret scanners, logs). */
export const API_KEY_PREFIX = 'kiln_';

/** The Redis channel on which a revoked key's hash is published: every gateway drops it from its cache at once. */
export const revokedKeysChannel = (queuePrefix: string): string => `${queuePrefix}:api-keys:revoked`;

export const hashApiKey = (key: string): string => createHash('sha256').update(key).digest('hex');

/** A new key: the prefix and 32 random bytes (base64url). */
export function newApiKey(): string {
  return `${API_KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
}

/** A per-key count limit: a whole number, 0 = no limit. */
function countLimit(description: string) {
  return z
    .number()
    .int('must be a whole number')
    .min(0, 'must be 0 (no limit) or more')
    .max(1_000_000, 'must be at most 1000000')
    .optional()
    .meta({ description });
}

/** Per-key limits over the server's; absent = the server's. */
export const apiKeyLimits = z.strictObject({
  rate_per_minute: z
    .number()
    .int('must be a whole number')
    .min(0, 'must be 0 (no limit) or more')
    .max(1_000_000, 'must be at most 1000000')
    .optional()
    .meta({ description: 'Requests per minute for this key (over KILN_RATE_LIMIT_PER_MINUTE); 0 = no limit.' }),
  max_jobs_in_flight: countLimit('Jobs not yet ended at once (over KILN_MAX_JOBS_IN_FLIGHT_PER_KEY); 0 = no limit.'),
  max_open_uploads: countLimit(
    'Uploads still taking bytes at once (over KILN_MAX_OPEN_UPLOADS_PER_KEY); 0 = no limit.',
  ),
  max_event_streams: countLimit('Event streams open at once (over KILN_MAX_EVENT_STREAMS_PER_KEY); 0 = no limit.'),
  storage_quota_bytes: z
    .number()
    .int('must be a whole number')
    .min(0, 'must be 0 (no limit) or more')
    .max(Number.MAX_SAFE_INTEGER, 'is too large')
    .optional()
    .meta({ description: 'Bytes this key may store (over KILN_STORAGE_QUOTA_PER_KEY); 0 = no limit.' }),
});
export type ApiKeyLimits = z.infer<typeof apiKeyLimits>;

/** `POST /v1/keys` and `kiln keys create`. */
export const createApiKeyBody = z.strictObject({
  name: z.string().trim().min(1, 'must not be empty').max(100, 'must be at most 100 characters'),
  scopes: z
    .array(z.enum(API_KEY_SCOPES, { error: `must be one of ${API_KEY_SCOPES.join(', ')}` }))
    .min(1, 'give at least one scope'),
  limits: apiKeyLimits.nullable().optional(),
});
export type CreateApiKeyBody = z.infer<typeof createApiKeyBody>;

/** What the API shows of a key: never the key nor its hash. */
export interface ApiKeyView {
  id: string;
  name: string;
  scopes: ApiKeyScope[];
  limits: ApiKeyLimits | null;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

type ApiKeyRow = Prisma.ApiKeyGetPayload<object>;

export function apiKeyView(row: ApiKeyRow): ApiKeyView {
  return {
    id: row.id,
    name: row.name,
    scopes: row.scopes as ApiKeyScope[],
    limits: (row.limits as ApiKeyLimits | null) ?? null,
    created_at: row.createdAt.toISOString(),
    last_used_at: row.lastUsedAt?.toISOString() ?? null,
    revoked_at: row.revokedAt?.toISOString() ?? null,
  };
}

/** The body, or 400 `invalid_input` naming each wrong field (nothing is stored). */
export function parseCreateApiKey(value: unknown): CreateApiKeyBody {
  const result = createApiKeyBody.safeParse(value ?? {});
  if (result.success) return result.data;
  const details: ErrorDetail[] = result.error.issues.flatMap((i) => {
    const at = i.path.map(String);
    if (i.code === 'unrecognized_keys')
      return i.keys.map((k) => ({ field: [...at, k].join('.'), message: 'unknown field' }));
    return [{ field: at.length ? at.join('.') : 'body', message: i.message }];
  });
  throw new KilnError('invalid_input', `Invalid body: ${details[0].field}: ${details[0].message}`, details);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A new key: stored as its hash; the clear key is in the answer only. */
export async function createApiKey(prisma: PrismaClient, body: unknown): Promise<{ key: string; view: ApiKeyView }> {
  const input = parseCreateApiKey(body);
  const key = newApiKey();
  const row = await prisma.apiKey.create({
    data: {
      id: randomUUID(),
      name: input.name,
      keyHash: hashApiKey(key),
      scopes: [...new Set(input.scopes)],
      limits: input.limits && Object.keys(input.limits).length ? input.limits : undefined,
    },
  });
  return { key, view: apiKeyView(row) };
}

/** Every key, oldest first (revoked ones too, with `revoked_at`). */
export async function listApiKeys(prisma: PrismaClient): Promise<ApiKeyView[]> {
  const rows = await prisma.apiKey.findMany({ orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] });
  return rows.map(apiKeyView);
}

/** Revokes a key (again: no change); null when there is no such key. Answers its hash for the caches. */
export async function revokeApiKey(
  prisma: PrismaClient,
  id: string,
): Promise<{ view: ApiKeyView; keyHash: string } | null> {
  if (!UUID.test(id)) return null;
  await prisma.apiKey.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: new Date() } });
  const row = await prisma.apiKey.findUnique({ where: { id } });
  return row ? { view: apiKeyView(row), keyHash: row.keyHash } : null;
}

/** The key of this hash when it exists and is not revoked. */
export async function activeApiKey(prisma: PrismaClient, keyHash: string): Promise<ApiKeyRow | null> {
  const row = await prisma.apiKey.findUnique({ where: { keyHash } });
  return row && !row.revokedAt ? row : null;
}
