// kiln keys create|list|revoke: managed API keys, over the API (an `admin` key) or, with --database,
// on PostgreSQL directly (DATABASE_URL): how the first admin key is made.
import { KilnError } from '@kiln/contracts';
import type { ApiKeyView, CreateApiKeyBody } from '@kiln/database';
import { flagValue, listValue, stringValue, UsageError, type Invocation } from '../args';
import { renderTable, shortTime } from '../output/table';
import { printJson, type CommandContext } from './command-context';

type CreatedKey = ApiKeyView & { key: string };

/** Where the keys are: the API or the database. */
interface KeyStore {
  create(body: CreateApiKeyBody): Promise<CreatedKey>;
  list(): Promise<ApiKeyView[]>;
  revoke(id: string): Promise<ApiKeyView>;
  close(): Promise<void>;
}

function apiStore(ctx: CommandContext): KeyStore {
  return {
    create: (body) => ctx.api.call<CreatedKey>('POST', '/v1/keys', { body }),
    list: async () => (await ctx.api.call<{ items: ApiKeyView[] }>('GET', '/v1/keys')).items,
    revoke: (id) => ctx.api.call<ApiKeyView>('DELETE', `/v1/keys/${encodeURIComponent(id)}`),
    close: async () => undefined,
  };
}

async function databaseStore(ctx: CommandContext): Promise<KeyStore> {
  const url = ctx.io.env.DATABASE_URL;
  if (!url) throw new UsageError('--database needs DATABASE_URL (the PostgreSQL URL the gateway uses)');
  // Loaded only here: the database client is not part of every kiln command's start.
  const { createApiKey, createPrismaClient, listApiKeys, revokeApiKey, revokedKeysChannel } = await import(
    '@kiln/database'
  );
  const prisma = createPrismaClient({ url, poolSize: 1 });
  const usage = (err: unknown): never => {
    // Bad input is wrong use of the command line here, as a 400 is over the API.
    if (err instanceof KilnError && err.code === 'invalid_input') throw new UsageError(err.message);
    throw err;
  };
  return {
    create: async (body) => {
      const { key, view } = await createApiKey(prisma, body).catch(usage);
      return { ...view, key };
    },
    list: () => listApiKeys(prisma),
    revoke: async (id) => {
      const revoked = await revokeApiKey(prisma, id);
      if (!revoked) throw new Error(`no API key with id ${id}`);
      await announceRevocation(ctx, revokedKeysChannel, revoked.keyHash);
      return revoked.view;
    },
    close: () => prisma.$disconnect(),
  };
}

/**
 * With REDIS_URL (the gateways' Redis), tells every gateway at once, as a revocation over the API does;
 * without it they drop the key within KILN_API_KEY_CACHE_MS. The revocation itself is already stored.
 */
async function announceRevocation(
  ctx: CommandContext,
  channelOf: (prefix: string) => string,
  keyHash: string,
): Promise<void> {
  const url = ctx.io.env.REDIS_URL;
  if (!url) return;
  const { Redis } = await import('ioredis');
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 5_000 });
  try {
    await redis.connect();
    await redis.publish(channelOf(ctx.io.env.KILN_QUEUE_PREFIX || 'kiln'), keyHash);
  } catch (err: unknown) {
    ctx.io.stderr.write(
      `kiln: revoked in the database, but Redis was not told (${err instanceof Error ? err.message : String(err)}); gateways drop the key within KILN_API_KEY_CACHE_MS\n`,
    );
  } finally {
    redis.disconnect();
  }
}

/** `--rate-per-minute n` and `--limit name=n` as numbers (the server or the database checks names and ranges). */
function limitsOf(inv: Invocation): CreateApiKeyBody['limits'] {
  const limits: Record<string, number> = {};
  const rate = stringValue(inv.values, 'rate-per-minute');
  if (rate !== undefined) {
    if (!/^\d+$/.test(rate.trim())) throw new UsageError('--rate-per-minute must be a whole number (0 = no limit)');
    limits.rate_per_minute = Number(rate);
  }
  for (const pair of listValue(inv.values, 'limit')) {
    const m = /^([a-z_]+)=(\d+)$/.exec(pair.trim());
    if (!m) throw new UsageError(`--limit ${pair}: give <name>=<whole number>, e.g. max_jobs_in_flight=5`);
    limits[m[1]] = Number(m[2]);
  }
  return Object.keys(limits).length ? (limits as CreateApiKeyBody['limits']) : undefined;
}

const keyRow = (k: ApiKeyView): string[] => [
  k.id,
  k.name,
  k.scopes.join(','),
  shortTime(k.created_at),
  shortTime(k.last_used_at),
  k.revoked_at ? shortTime(k.revoked_at) : '-',
];

export async function keysCommand(ctx: CommandContext, inv: Invocation): Promise<number> {
  const [action, id] = inv.positionals;
  if (action !== 'create' && action !== 'list' && action !== 'revoke')
    throw new UsageError(`kiln keys takes create, list or revoke <id> (got "${action}"); see kiln keys --help`);
  if ((action === 'revoke') !== (id !== undefined))
    throw new UsageError(
      action === 'revoke' ? 'kiln keys revoke takes the id of a key' : `kiln keys ${action} takes no id`,
    );
  const body: CreateApiKeyBody | undefined =
    action === 'create'
      ? {
          name: stringValue(inv.values, 'name') ?? '',
          scopes: listValue(inv.values, 'scope') as CreateApiKeyBody['scopes'],
          limits: limitsOf(inv),
        }
      : undefined;
  const store = flagValue(inv.values, 'database') ? await databaseStore(ctx) : apiStore(ctx);
  try {
    if (body) {
      const created = await store.create(body);
      if (ctx.json) printJson(ctx, created);
      else {
        ctx.io.stderr.write(
          `created API key ${created.id} "${created.name}" (${created.scopes.join(', ')}); it is shown this once:\n`,
        );
        ctx.io.stdout.write(`${created.key}\n`);
      }
    } else if (action === 'list') {
      const keys = await store.list();
      if (ctx.json) printJson(ctx, { items: keys });
      else if (!keys.length) ctx.io.stdout.write('no API keys\n');
      else
        ctx.io.stdout.write(renderTable(['ID', 'NAME', 'SCOPES', 'CREATED', 'LAST USED', 'REVOKED'], keys.map(keyRow)));
    } else {
      const revoked = await store.revoke(id);
      if (ctx.json) printJson(ctx, revoked);
      else ctx.io.stdout.write(`revoked API key ${revoked.id} "${revoked.name}"\n`);
    }
    return 0;
  } finally {
    await store.close().catch(() => undefined);
  }
}
