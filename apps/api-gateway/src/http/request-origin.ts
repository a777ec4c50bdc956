import type { Request } from 'express';

/** The scheme and host a request was sent to (`https://kiln.example`): the base of the URLs an answer names. */
export function requestOrigin(req: Request): string {
  return `${req.protocol}://${req.get('host')}`;
}
