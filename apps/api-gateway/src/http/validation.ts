import type { z } from 'zod';
import { KilnError, type ErrorDetail } from '@kiln/contracts';

/** Parses a body/query with a zod schema; failures become 400 invalid_input naming each field. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, what = 'body'): z.infer<S> {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const details: ErrorDetail[] = result.error.issues.flatMap((i) => {
    const at = i.path.map(String);
    if (i.code === 'unrecognized_keys') {
      return i.keys.map((k) => ({ field: [...at, k].join('.'), message: 'unknown field' }));
    }
    return [{ field: at.length ? at.join('.') : what, message: i.message }];
  });
  const first = details[0];
  throw new KilnError('invalid_input', `Invalid ${what}: ${first.field}: ${first.message}`, details);
}
