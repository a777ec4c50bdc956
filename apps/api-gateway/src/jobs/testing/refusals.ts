// How the jobs request specs (jobs.schemas*.spec.ts) check a refusal: a 400 `invalid_input` KilnError
// whose `details` name the exact field, as the HTTP layer renders it; and a conversion shorthand.
import { KilnError } from '@kiln/contracts';
import type { z } from 'zod';
import { parseOrThrow } from '../../http/validation';

export type Options = Record<string, unknown>;

/** Runs parseOrThrow and returns the KilnError it must throw. */
export function refusal(schema: z.ZodType, value: unknown, what?: string): KilnError {
  let parsed: unknown;
  try {
    parsed = parseOrThrow(schema, value, what);
  } catch (err: unknown) {
    if (err instanceof KilnError) return err;
    throw err;
  }
  throw new Error(`expected a 400 invalid_input, but it parsed to ${JSON.stringify(parsed)}`);
}

/** Asserts the refusal is a 400 invalid_input naming exactly these fields (in order). */
export function expectRefused(schema: z.ZodType, value: unknown, fields: string[], what = 'body'): KilnError {
  const err = refusal(schema, value, what === 'body' ? undefined : what);
  expect(err.code).toBe('invalid_input');
  expect(err.status).toBe(400);
  expect(err.details?.map((d) => d.field)).toEqual(fields);
  for (const d of err.details ?? []) expect(d.message).toEqual(expect.any(String));
  expect(err.message.startsWith(`Invalid ${what}: ${fields[0]}: `)).toBe(true);
  // What the HTTP layer renders.
  expect(err.toBody().error).toMatchObject({ code: 'invalid_input', details: fields.map((field) => ({ field })) });
  return err;
}

export const conv = (target: unknown, options?: unknown) => (options === undefined ? { target } : { target, options });
