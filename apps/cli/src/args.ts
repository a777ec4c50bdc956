// The command line: which command, its arguments and options (node:util parseArgs), and help texts.
import { parseArgs } from 'node:util';
import { parseByteSize } from '@kiln/contracts';

/** Wrong use of the command line (exit code 2). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export type CommandName = 'convert' | 'jobs' | 'status' | 'cancel' | 'formats' | 'download' | 'keys';

interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** Placeholder of the value in help, e.g. "<dir>". */
  value?: string;
  help: string;
}

interface CommandSpec {
  name: CommandName;
  args: string;
  summary: string;
  positionals: { min: number; max: number };
  options: Record<string, OptionSpec>;
  notes?: string[];
}

export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  url: { type: 'string', value: '<url>', help: 'Kiln API base URL (env KILN_URL; default http://127.0.0.1:3000)' },
  'api-key': { type: 'string', value: '<key>', help: 'API key (env KILN_API_KEY)' },
  config: {
    type: 'string',
    value: '<path>',
    help: 'config file {"url", "api_key"} (default $XDG_CONFIG_HOME/kiln/config.json or ~/.config/kiln/config.json)',
  },
  json: { type: 'boolean', help: 'print machine-readable JSON only on stdout' },
  help: { type: 'boolean', short: 'h', help: 'show help' },
};

const retries: OptionSpec = {
  type: 'string',
  value: '<n>',
  help: 'retries of each request on network errors, 429 and 5xx (default 5)',
};

export const COMMANDS: readonly CommandSpec[] = [
  {
    name: 'convert',
    args: '<file…> --to <target>',
    summary: 'upload files, convert them, download the results',
    positionals: { min: 1, max: Infinity },
    options: {
      to: {
        type: 'string',
        short: 't',
        value: '<target>',
        help: 'target format, e.g. mp3, mp4, png (see kiln formats)',
      },
      option: {
        type: 'string',
        multiple: true,
        value: '<k=v>',
        help: 'conversion option, repeatable (e.g. --option audio_bitrate=192)',
      },
      out: {
        type: 'string',
        short: 'o',
        value: '<dir>',
        help: 'where to save the outputs (default: the current directory)',
      },
      tag: { type: 'string', value: '<tag>', help: 'a label stored with the job' },
      callback: { type: 'string', value: '<url>', help: 'URL Kiln POSTs the job to when it ends' },
      'no-wait': { type: 'boolean', help: 'start the job and print its id without waiting for it' },
      'chunk-size': {
        type: 'string',
        value: '<size>',
        help: "upload chunk or part size (default 8MiB chunks, the server's part size; kept within the server's limits)",
      },
      parallel: { type: 'string', value: '<n>', help: 'chunks or parts uploaded at once (default 3)' },
      proxied: {
        type: 'boolean',
        help: 'send the bytes through the gateway in chunks even when the server offers direct uploads to S3',
      },
      'limit-rate': { type: 'string', value: '<size>', help: 'upload at most this many bytes per second, e.g. 2MiB' },
      retries,
    },
    notes: [
      'Every file becomes one input of one job; every input is converted to the target.',
      'An interrupted run (Ctrl-C, network failure) continues where it stopped when run again with',
      'the same files, target and options: uploaded bytes are not sent again.',
      'When the server offers direct uploads, the bytes go straight to its S3 storage (a small file as one',
      'form POST, a large one in parts); else, or with --proxied, in chunks through the gateway.',
    ],
  },
  {
    name: 'jobs',
    args: '',
    summary: 'list your jobs, newest first',
    positionals: { min: 0, max: 0 },
    options: {
      status: {
        type: 'string',
        value: '<status>',
        help: 'only jobs with this status (incomplete, queued, downloading, processing, completed, failed, canceled)',
      },
      limit: { type: 'string', value: '<n>', help: 'how many (1-100, default 20)' },
    },
  },
  {
    name: 'status',
    args: '<job id>',
    summary: 'show a job: inputs, conversions, outputs, errors',
    positionals: { min: 1, max: 1 },
    options: {},
  },
  { name: 'cancel', args: '<job id>', summary: 'cancel a job', positionals: { min: 1, max: 1 }, options: {} },
  {
    name: 'formats',
    args: '[target]',
    summary: 'list targets and their options',
    positionals: { min: 0, max: 1 },
    options: {},
  },
  {
    name: 'download',
    args: '<job id>',
    summary: "download a completed job's outputs",
    positionals: { min: 1, max: 1 },
    options: {
      out: {
        type: 'string',
        short: 'o',
        value: '<dir>',
        help: 'where to save the outputs (default: the current directory)',
      },
      retries,
    },
  },
  {
    name: 'keys',
    args: 'create|list|revoke [id]',
    summary: 'manage API keys (with an admin key, or --database)',
    positionals: { min: 1, max: 2 },
    options: {
      name: { type: 'string', value: '<name>', help: "create: the key's name" },
      scope: {
        type: 'string',
        multiple: true,
        value: '<scope>',
        help: 'create: a scope, repeatable (jobs:read, jobs:write, uploads:write, admin)',
      },
      'rate-per-minute': {
        type: 'string',
        value: '<n>',
        help: "create: this key's requests per minute, over the server's limit (0 = none)",
      },
      limit: {
        type: 'string',
        multiple: true,
        value: '<name>=<n>',
        help: 'create: another own limit, repeatable (max_jobs_in_flight, max_open_uploads, storage_quota_bytes, max_event_streams; 0 = none)',
      },
      database: {
        type: 'boolean',
        help: 'work on PostgreSQL directly (env DATABASE_URL) instead of the API: makes the first admin key',
      },
    },
    notes: [
      'kiln keys create --name ci --scope jobs:read --scope jobs:write   prints the new key once',
      'kiln keys list                                                    never shows keys, only their ids',
      'kiln keys revoke <id>                                             refused on every gateway within seconds',
    ],
  },
];

export type OptionValues = Record<string, string | boolean | string[] | undefined>;

export interface Invocation {
  /** undefined: no command (top-level help). */
  command: CommandName | undefined;
  help: boolean;
  positionals: string[];
  values: OptionValues;
}

const commandSpec = (name: string) => COMMANDS.find((c) => c.name === name);

/** The index of the command word: the first argument that is neither an option nor a global option's value. */
function commandIndex(argv: string[]): number {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') return i + 1 < argv.length ? i + 1 : -1;
    if (a.startsWith('--')) {
      const name = a.slice(2);
      if (!name.includes('=') && GLOBAL_OPTIONS[name]?.type === 'string') i++;
      continue;
    }
    if (a.startsWith('-') && a.length > 1) continue;
    return i;
  }
  return -1;
}

function parseConfigOf(options: Record<string, OptionSpec>) {
  return Object.fromEntries(
    Object.entries(options).map(([name, o]) => [
      name,
      { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) },
    ]),
  );
}

export function parseInvocation(argv: string[]): Invocation {
  const at = commandIndex(argv);
  const word = at >= 0 ? argv[at] : undefined;
  let rest = at >= 0 ? [...argv.slice(0, at), ...argv.slice(at + 1)] : argv;
  let name = word;
  if (word === 'help') {
    // kiln help [command]
    const next = commandIndex(rest);
    name = next >= 0 ? rest[next] : undefined;
    if (name !== undefined && !commandSpec(name)) throw new UsageError(`unknown command "${name}"; see kiln --help`);
    return { command: name as CommandName | undefined, help: true, positionals: [], values: {} };
  }
  const spec = name === undefined ? undefined : commandSpec(name);
  if (name !== undefined && !spec) throw new UsageError(`unknown command "${name}"; see kiln --help`);
  if (!spec) rest = argv;
  let parsed: { values: OptionValues; positionals: string[] };
  try {
    parsed = parseArgs({
      args: rest,
      options: parseConfigOf({ ...GLOBAL_OPTIONS, ...(spec?.options ?? {}) }),
      allowPositionals: true,
      strict: true,
    }) as { values: OptionValues; positionals: string[] };
  } catch (err: unknown) {
    const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new UsageError(`${message}; see kiln ${spec ? `${spec.name} ` : ''}--help`);
  }
  const help = parsed.values.help === true;
  if (!spec) return { command: undefined, help: true, positionals: [], values: parsed.values };
  if (!help) {
    const n = parsed.positionals.length;
    if (n < spec.positionals.min || n > spec.positionals.max) {
      const wanted = spec.args.replace(/\s*--.*$/, '') || 'no arguments';
      throw new UsageError(`kiln ${spec.name} takes ${wanted}; see kiln ${spec.name} --help`);
    }
  }
  return { command: spec.name, help, positionals: parsed.positionals, values: parsed.values };
}

function optionLines(options: Record<string, OptionSpec>): string[] {
  const left = Object.entries(options).map(
    ([name, o]) => `${o.short ? `-${o.short}, ` : '    '}--${name}${o.value ? ` ${o.value}` : ''}`,
  );
  const width = Math.max(...left.map((l) => l.length)) + 2;
  return Object.values(options).map((o, i) => `  ${left[i].padEnd(width)}${o.help}`);
}

export function helpText(command?: CommandName): string {
  const spec = command ? commandSpec(command) : undefined;
  if (spec) {
    return [
      `Usage: kiln ${spec.name}${spec.args ? ` ${spec.args}` : ''} [options]`,
      '',
      `${spec.summary[0].toUpperCase()}${spec.summary.slice(1)}.`,
      ...(spec.notes ? ['', ...spec.notes] : []),
      ...(Object.keys(spec.options).length ? ['', 'Options:', ...optionLines(spec.options)] : []),
      '',
      'Global options:',
      ...optionLines(GLOBAL_OPTIONS),
      '',
    ].join('\n');
  }
  const left = COMMANDS.map((c) => `${c.name}${c.args ? ` ${c.args}` : ''}`);
  const width = Math.max(...left.map((l) => l.length)) + 2;
  return [
    'kiln: convert files with a Kiln server from the command line',
    '',
    'Usage: kiln <command> [arguments] [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c, i) => `  ${left[i].padEnd(width)}${c.summary}`),
    '',
    'Global options:',
    ...optionLines(GLOBAL_OPTIONS),
    '',
    'Configuration: flags, then KILN_URL / KILN_API_KEY, then the config file, then the default URL.',
    'Run kiln <command> --help for the options of a command.',
    '',
  ].join('\n');
}

// ---- typed views of the values ------------------------------------------------------------

export function stringValue(values: OptionValues, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

export function flagValue(values: OptionValues, name: string): boolean {
  return values[name] === true;
}

export function listValue(values: OptionValues, name: string): string[] {
  const v = values[name];
  return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
}

export function intValue(
  values: OptionValues,
  name: string,
  range: { min: number; max: number },
  fallback: number,
): number {
  const text = stringValue(values, name);
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text.trim()) || Number(text) < range.min || Number(text) > range.max) {
    throw new UsageError(`--${name} must be a whole number from ${range.min} to ${range.max}`);
  }
  return Number(text);
}

export function sizeValue(values: OptionValues, name: string): number | undefined {
  const text = stringValue(values, name);
  if (text === undefined) return undefined;
  const n = parseByteSize(text);
  if (n === undefined || n < 1) throw new UsageError(`--${name} must be a size such as 8MiB, 512k or 1048576`);
  return n;
}

/**
 * `--option k=v` pairs into a conversion's options: numbers become numbers (the catalog's options
 * are numbers or enums of numbers and strings), anything else stays a string for the API to judge.
 */
export function parseConversionOptions(pairs: string[]): Record<string, string | number> {
  const options: Record<string, string | number> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    const key = eq > 0 ? pair.slice(0, eq).trim() : '';
    if (!key) throw new UsageError(`--option takes key=value, got "${pair}"`);
    const raw = pair.slice(eq + 1).trim();
    options[key] = /^-?(\d+(\.\d*)?|\.\d+)(e-?\d+)?$/i.test(raw) ? Number(raw) : raw;
  }
  return options;
}

export interface ConvertArgs {
  files: string[];
  target: string;
  options: Record<string, string | number>;
  out: string | undefined;
  tag: string | undefined;
  callback: string | undefined;
  wait: boolean;
  chunkSize: number | undefined;
  parallel: number;
  limitRate: number | undefined;
  retries: number;
  /** Chunks through the gateway even when direct uploads are offered. */
  proxied: boolean;
}

export function convertArgs(inv: Invocation): ConvertArgs {
  const target = stringValue(inv.values, 'to')?.trim();
  if (!target) throw new UsageError('kiln convert needs --to <target>; see kiln formats');
  return {
    files: inv.positionals,
    target: target.toLowerCase(),
    options: parseConversionOptions(listValue(inv.values, 'option')),
    out: stringValue(inv.values, 'out'),
    tag: stringValue(inv.values, 'tag'),
    callback: stringValue(inv.values, 'callback'),
    wait: !flagValue(inv.values, 'no-wait'),
    chunkSize: sizeValue(inv.values, 'chunk-size'),
    parallel: intValue(inv.values, 'parallel', { min: 1, max: 16 }, 3),
    limitRate: sizeValue(inv.values, 'limit-rate'),
    retries: intValue(inv.values, 'retries', { min: 0, max: 100 }, 5),
    proxied: flagValue(inv.values, 'proxied'),
  };
}
