// Where the CLI finds its server and API key: flags > environment > config file > default URL.
import { readFile } from 'node:fs/promises';
import path from 'node:path';

export const DEFAULT_URL = 'http://127.0.0.1:3000';

/** A configuration problem (exit code 2). Never carries the API key. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export interface ConfigFile {
  url?: string;
  api_key?: string;
}

export interface ConfigSources {
  flags: { url?: string; apiKey?: string };
  env: Record<string, string | undefined>;
  file?: ConfigFile;
}

export interface ResolvedConfig {
  url: string;
  apiKey: string | undefined;
}

const present = (v: string | undefined): string | undefined =>
  v !== undefined && v.trim() !== '' ? v.trim() : undefined;

/** The config file to read: `--config`, else $XDG_CONFIG_HOME/kiln/config.json, else ~/.config/kiln/config.json. */
export function configFilePath(
  explicit: string | undefined,
  env: Record<string, string | undefined>,
  home: string,
): { path: string; explicit: boolean } {
  if (present(explicit)) return { path: path.resolve(explicit!), explicit: true };
  const base = present(env.XDG_CONFIG_HOME) ?? path.join(home, '.config');
  return { path: path.join(base, 'kiln', 'config.json'), explicit: false };
}

export function parseConfigFile(text: string, where: string): ConfigFile {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err: unknown) {
    throw new ConfigError(`${where} is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!data || typeof data !== 'object' || Array.isArray(data))
    throw new ConfigError(`${where} must hold a JSON object such as {"url": "…", "api_key": "…"}`);
  const o = data as Record<string, unknown>;
  for (const key of ['url', 'api_key'] as const) {
    if (o[key] !== undefined && typeof o[key] !== 'string')
      throw new ConfigError(`${where}: "${key}" must be a string`);
  }
  return { url: o.url as string | undefined, api_key: o.api_key as string | undefined };
}

/** A base URL without a trailing slash; http or https only. */
export function normalizeUrl(url: string, source: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError(`the server URL from ${source} is not a URL: "${url}"`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new ConfigError(`the server URL from ${source} must be http or https`);
  if (u.username || u.password)
    throw new ConfigError(`the server URL from ${source} must not hold credentials; use --api-key or KILN_API_KEY`);
  return u.toString().replace(/\/+$/, '');
}

/** Pure: picks each setting from the first source that has it. */
export function resolveConfig(sources: ConfigSources): ResolvedConfig {
  const { flags, env, file } = sources;
  const url =
    (present(flags.url) && normalizeUrl(flags.url!, '--url')) ||
    (present(env.KILN_URL) && normalizeUrl(env.KILN_URL!, 'KILN_URL')) ||
    (present(file?.url) && normalizeUrl(file!.url!, 'the config file')) ||
    DEFAULT_URL;
  const apiKey = present(flags.apiKey) ?? present(env.KILN_API_KEY) ?? present(file?.api_key);
  return { url, apiKey };
}

/** Reads the config file (a missing default file is fine; a missing --config file is an error) and resolves. */
export async function loadConfig(
  flags: { url?: string; apiKey?: string; config?: string },
  env: Record<string, string | undefined>,
  home: string,
): Promise<ResolvedConfig> {
  const where = configFilePath(flags.config, env, home);
  let file: ConfigFile | undefined;
  try {
    file = parseConfigFile(await readFile(where.path, 'utf8'), where.path);
  } catch (err: unknown) {
    if (err instanceof ConfigError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (where.explicit || (code !== 'ENOENT' && code !== 'ENOTDIR')) {
      throw new ConfigError(
        `cannot read the config file ${where.path}: ${code ?? (err instanceof Error ? err.message : String(err))}`,
      );
    }
  }
  return resolveConfig({ flags, env, file });
}
