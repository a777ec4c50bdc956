import { z } from 'zod';
import { checkConversion, text } from './jobs.schemas';

const UUID_SHAPE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A preset's name: what conversions refer to it by. Trimmed, 1–100 characters, unique per API key,
 * and never shaped like a UUID (a reference that looks like one is read as an id).
 */
export const presetName = text(100)
  .transform((v) => v.trim())
  .pipe(
    z
      .string()
      .min(1, 'must not be empty')
      .refine((v) => !UUID_SHAPE.test(v), 'must not look like an id (a UUID)'),
  )
  .meta({ description: 'Unique per API key; 1-100 characters, not shaped like a UUID.' });

/** POST /v1/presets: a conversion with a name, checked against the catalog like any conversion. */
export const createPresetBody = z
  .strictObject({
    name: presetName,
    target: z.string().min(1).max(32).meta({ description: 'A target of GET /v1/formats.' }),
    options: z
      .record(z.string(), z.unknown())
      .optional()
      .meta({ description: 'The target’s options, as GET /v1/formats lists them.' }),
  })
  .superRefine((c, ctx) => checkConversion(c, ctx));
export type CreatePresetBody = z.infer<typeof createPresetBody>;
