import type { Request } from 'express';
import { KilnError } from '@kiln/contracts';

/** A login form is a few dozen bytes; anything larger is not one. */
const FORM_LIMIT = 4096;

/** Reads the login form (`application/x-www-form-urlencoded`, bounded) into its fields. */
export async function readLoginForm(req: Request): Promise<URLSearchParams> {
  const type = (req.header('content-type') ?? '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') {
    throw new KilnError(
      'unsupported_media_type',
      'Log in with an HTML form (application/x-www-form-urlencoded) carrying api_key.',
    );
  }
  const declared = Number(req.header('content-length'));
  if (Number.isFinite(declared) && declared > FORM_LIMIT)
    throw new KilnError('payload_too_large', `The login form is limited to ${FORM_LIMIT} bytes.`);
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > FORM_LIMIT)
      throw new KilnError('payload_too_large', `The login form is limited to ${FORM_LIMIT} bytes.`);
    parts.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(parts).toString('utf8'));
}
