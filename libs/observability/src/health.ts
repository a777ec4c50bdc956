export interface HealthCheck {
  name: string;
  ok: boolean;
  ms: number;
  error?: string;
}

/** Runs one readiness check with a deadline; never throws. */
export async function runCheck(
  name: string,
  fn: () => Promise<unknown> | unknown,
  timeoutMs = 2_000,
): Promise<HealthCheck> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      Promise.resolve().then(fn),
      new Promise(
        (_, reject) => (timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs)),
      ),
    ]);
    return { name, ok: true, ms: Date.now() - started };
  } catch (err: unknown) {
    return { name, ok: false, ms: Date.now() - started, error: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
  }
}
