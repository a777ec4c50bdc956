// kiln: parses the command line, resolves the configuration and runs one command. Answers the exit
// code: 0 success, 1 failure (the API's message on stderr), 2 wrong usage or configuration, 130 interrupted.
import {
  flagValue,
  helpText,
  intValue,
  parseInvocation,
  stringValue,
  UsageError,
  type CommandName,
  type Invocation,
} from './args';
import { ApiError, describeFailure, failureJson } from './api/api-error';
import { KilnClient } from './api/kiln-client';
import { cancelCommand } from './commands/cancel.command';
import type { CliIo, CommandContext } from './commands/command-context';
import { convertCommand } from './commands/convert.command';
import { downloadCommand, retryNote } from './commands/download.command';
import { formatsCommand } from './commands/formats.command';
import { jobsCommand } from './commands/jobs.command';
import { keysCommand } from './commands/keys.command';
import { statusCommand } from './commands/status.command';
import { ConfigError, loadConfig } from './config';
import { ProgressDisplay, progressMode } from './progress/progress-display';
import { DEFAULT_RETRY } from './api/retry';

export type { CliIo } from './commands/command-context';

export const CLI_VERSION = '0.1.0';

const RUNNERS: Record<CommandName, (ctx: CommandContext, inv: Invocation) => Promise<number>> = {
  convert: convertCommand,
  jobs: jobsCommand,
  status: statusCommand,
  cancel: cancelCommand,
  formats: formatsCommand,
  download: downloadCommand,
  keys: keysCommand,
};

function fail(io: CliIo, lines: string[]): void {
  io.stderr.write(`kiln: ${lines.join('\n')}\n`);
}

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  let inv: Invocation;
  try {
    inv = parseInvocation(argv);
  } catch (err: unknown) {
    fail(io, [err instanceof Error ? err.message : String(err)]);
    return 2;
  }
  if (inv.help || !inv.command) {
    io.stdout.write(helpText(inv.command));
    return 0;
  }
  const json = flagValue(inv.values, 'json');
  let ctx: CommandContext;
  try {
    const config = await loadConfig(
      {
        url: stringValue(inv.values, 'url'),
        apiKey: stringValue(inv.values, 'api-key'),
        config: stringValue(inv.values, 'config'),
      },
      io.env,
      io.home,
    );
    const retry = {
      ...DEFAULT_RETRY,
      attempts: intValue(inv.values, 'retries', { min: 0, max: 100 }, DEFAULT_RETRY.attempts - 1) + 1,
    };
    const progress = new ProgressDisplay(io.stderr, progressMode(!!io.stderr.isTTY, json));
    const api = new KilnClient({
      url: config.url,
      apiKey: config.apiKey,
      signal: io.signal,
      retry,
      userAgent: `kiln-cli/${CLI_VERSION}`,
      onRetry: (what, err, attempt, delay) => progress.note(retryNote(what, err, attempt, delay, retry.attempts)),
    });
    ctx = { io, api, json, retry, progress };
  } catch (err: unknown) {
    if (err instanceof ConfigError || err instanceof UsageError) {
      fail(io, [err.message]);
      return 2;
    }
    throw err;
  }
  try {
    return await RUNNERS[inv.command](ctx, inv);
  } catch (err: unknown) {
    ctx.progress.finish();
    if (io.signal.aborted) {
      fail(io, ['interrupted']);
      return 130;
    }
    if (err instanceof UsageError) {
      fail(io, [err.message]);
      return 2;
    }
    const lines = describeFailure(err);
    if (err instanceof ApiError && err.status === 401 && !ctx.api.hasApiKey)
      lines.push('  no API key was given: use --api-key, KILN_API_KEY or "api_key" in the config file.');
    fail(io, lines);
    if (json) io.stdout.write(`${JSON.stringify(failureJson(err), null, 2)}\n`);
    return 1;
  }
}
