import { createHash } from 'node:crypto';
import type { ApiKeyLimits, ApiKeyScope } from '@kiln/database';

/**
 * Who is calling: an account API key (by hash, with its scopes), a job token that reaches one job's uploads, or the
 * web page's session cookie (the key's owner, on the few routes marked @AllowWebSession only).
 */
export type Principal =
  | {
      kind: 'key';
      ownerKeyHash: string;
      /** What the key may do (bootstrap keys of KILN_API_KEYS: every scope but admin). */
      scopes: readonly ApiKeyScope[];
      /** A managed key's id and own limits (absent for bootstrap keys). */
      keyId?: string;
      limits?: ApiKeyLimits;
    }
  | { kind: 'job-token'; jobId: string; ownerKeyHash: string }
  | { kind: 'web-session'; ownerKeyHash: string; sessionId: string };

export const hashKey = (key: string): string => createHash('sha256').update(key).digest('hex');
