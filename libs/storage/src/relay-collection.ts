/**
 * Bytes relayed to S3 arrive as fresh Buffers (64 KiB pieces from the socket) that die as soon as
 * they are written on. Their memory lives outside the V8 heap and is freed only when a collection
 * finds their small wrappers dead; with a small young generation a collection comes seldom enough
 * that several streams leave tens of MiB of dead pieces resident (V8 collects for external memory
 * only past 64 MiB). A minor collection (a scavenge, about a millisecond) after every `every` bytes
 * relayed bounds that. It needs the process started with `--expose-gc` (the image's NODE_OPTIONS, so
 * compose and Kubernetes too, and `npm run up`); without it, or with `every` 0, it is off.
 */
type Collect = (options?: { type?: 'minor' | 'major'; execution?: 'sync' | 'async' }) => void;

let every = 4 * 1024 * 1024;
let since = 0;

/** KILN_RELAY_GC_BYTES: relayed bytes between two minor collections; 0 turns them off. */
export function setRelayCollection(bytes: number): void {
  every = bytes;
  since = 0;
}

/** Whether relayed bytes are collected in this process (gc exposed and a positive interval). */
export function relayCollectionActive(): boolean {
  return every > 0 && typeof (globalThis as { gc?: Collect }).gc === 'function';
}

/** Counts bytes that were relayed and are now garbage; collects the young generation past `every`. */
export function relayed(bytes: number): void {
  if (every <= 0) return;
  since += bytes;
  if (since < every) return;
  since = 0;
  (globalThis as { gc?: Collect }).gc?.({ type: 'minor' });
}
