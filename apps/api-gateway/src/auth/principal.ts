import { createHash } from 'node:crypto';

/** Who is calling: an account API key (by hash), or a job token that reaches one job's uploads. */
export type Principal = { kind: 'key'; ownerKeyHash: string } | { kind: 'job-token'; jobId: string; ownerKeyHash: string };

export const hashKey = (key: string): string => createHash('sha256').update(key).digest('hex');
