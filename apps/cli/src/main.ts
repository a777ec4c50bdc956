// The kiln command: `node dist/apps/cli/src/main.js …` (or `npx kiln …` through bin/kiln.js).
import { homedir } from 'node:os';
import { runCli } from './cli';

const stop = new AbortController();
let stopping = false;
const onSignal = (signal: NodeJS.Signals) => {
  if (stopping) process.exit(130); // a second Ctrl-C: leave now
  stopping = true;
  stop.abort(new Error(`stopped by ${signal}`));
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
// `kiln jobs | head`: a closed pipe ends the output, not the process with a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
});

runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  cwd: process.cwd(),
  home: homedir(),
  signal: stop.signal,
})
  .catch((err: unknown) => {
    process.stderr.write(`kiln: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  })
  .then((code) => {
    process.exitCode = code;
    // Idle keep-alive sockets must not hold the process open.
    setTimeout(() => process.exit(code), 1000).unref();
  });
