import pLimit from 'p-limit';

/**
 * Maps `items` through `fn` with at most `limit` calls running at once (p-limit); results keep the
 * items' order. After the first failure no new call starts; that failure is thrown once the running
 * ones have settled.
 */
export async function mapLimit<T, R>(
  items: T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const gate = pLimit(Math.max(1, limit));
  let failed = false;
  const settled = await Promise.allSettled(
    items.map((item, index) =>
      gate(async () => {
        if (failed) return undefined as R;
        try {
          return await fn(item, index);
        } catch (err: unknown) {
          failed = true;
          throw err;
        }
      }),
    ),
  );
  const rejected = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (rejected) throw rejected.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<R>).value);
}
