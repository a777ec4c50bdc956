import { createHash } from 'node:crypto';

/**
 * Who is calling: an account API key (by hash), a job token that reaches one job's uploads, or the
 * web page's session cookie (the key's owner, on the few routes marked @AllowWebSession only).
 */
export type Principal =
  | { kind: 'key'; ownerKeyHash: string }
  | { kind: 'job-token'; jobId: string; ownerKeyHash: string }
  | { kind: 'web-session'; ownerKeyHash: string; sessionId: string };

export const hashKey = (key: string): string => createHash('sha256').update(key).digest('hex');
