import type { KilnClient } from '../api/kiln-client';
import type { ProgressDisplay } from '../progress/progress-display';
import type { RetryPolicy } from '../api/retry';

/** What a command may touch: its streams, environment and the API. Tests pass their own. */
export interface CliIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown; isTTY?: boolean; columns?: number };
  env: Record<string, string | undefined>;
  cwd: string;
  home: string;
  /** Aborted on Ctrl-C / SIGTERM. */
  signal: AbortSignal;
}

export interface CommandContext {
  io: CliIo;
  api: KilnClient;
  json: boolean;
  retry: RetryPolicy;
  progress: ProgressDisplay;
}

export function printJson(ctx: CommandContext, value: unknown): void {
  ctx.io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
