// What the apps of a test stack wrote: their JSON log lines, and their last warnings and errors
// for failure messages.
import type { RunningApp, Stack } from '../stack';

export interface LogLine {
  time?: string;
  msg?: string;
  queue?: string;
  outcome?: string;
  reason?: string;
  jobId?: string;
  outputId?: string;
  attempt?: number;
  key?: string;
  err?: string;
}

/** The JSON log lines an app wrote so far. */
export function logLines(app: RunningApp): LogLine[] {
  return app.output
    .join('')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as LogLine];
      } catch {
        return [];
      }
    });
}

/** The apps' last warnings and errors, without the reconnect noise of an outage (for failure messages). */
export function problems(stack: Stack, last = 12, ignore = /"msg":"worker error"/): string {
  return stack.apps
    .map((a) => {
      const lines = a.output
        .join('')
        .split('\n')
        .filter((l) => /"level":"(warn|error)"/.test(l) && !ignore.test(l))
        .map((l) => l.slice(0, 500));
      return `--- ${a.name}\n${lines.slice(-last).join('\n')}`;
    })
    .join('\n');
}

/** Every app still running. */
export const alive = (apps: RunningApp[]) =>
  apps.every((a) => a.child.exitCode === null && a.child.signalCode === null);
