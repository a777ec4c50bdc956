import { z } from 'zod';
import { findTarget, validateOptions, filenameProblem } from '@kiln/contracts';

/**
 * Text that reaches the database: no control characters (PostgreSQL refuses NUL in text and JSON,
 * and CR/LF would travel on into headers and logs).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
export const text = (max: number) =>
  z
    .string()
    .max(max)
    .refine((v) => !CONTROL.test(v), 'must not contain control characters');

/**
 * A file name the client states: taken as sent (white space at the ends trimmed), or refused when it has
 * control or format characters, a path, is . or .., or is over 255 bytes (see parseFilename).
 */
export const clientFilename = z
  .string()
  .max(4096)
  .transform((v, ctx) => {
    const problem = CONTROL.test(v) ? 'must not contain control characters' : filenameProblem(v.trim());
    if (problem) {
      ctx.addIssue({ code: 'custom', message: problem });
      return z.NEVER;
    }
    return v.trim();
  })
  .meta({ description: 'A file name: no path, no control or format characters, at most 255 UTF-8 bytes.' });

/** The last second of year 9999 (epoch seconds): a later `expires_at` is refused as out of range. */
const JOB_EXPIRES_AT_MAX = 253_402_300_799;

/** A byte count: a whole number from 0 to 2^53 - 1 (a JSON 1e300 or -1 is a 400, never a crash later). */
export const byteCount = z.number().int('must be a whole number of bytes').min(0).max(Number.MAX_SAFE_INTEGER);

const httpUrl = text(2048)
  .refine((v) => {
    try {
      const u = new URL(v);
      return (u.protocol === 'http:' || u.protocol === 'https:') && !!u.hostname;
    } catch {
      return false;
    }
  }, 'must be an http or https URL')
  .meta({ format: 'uri', description: 'An http or https URL.' });

const filename = clientFilename;

export const inputSpec = z.discriminatedUnion('type', [
  z
    .strictObject({
      type: z.literal('upload'),
      filename: filename.optional(),
      size: byteCount.optional(),
      /** A standalone upload session (POST /v1/uploads or tus without job_id) that becomes this input's file. */
      upload_id: z.string().uuid('must be the id of an upload session').optional().meta({
        description: 'A standalone upload session that becomes this input; filename and size then come from it.',
      }),
    })
    .refine((i) => i.upload_id === undefined || (i.size === undefined && i.filename === undefined), {
      message: 'with upload_id, filename and size come from the upload',
      path: ['upload_id'],
    }),
  z.strictObject({ type: z.literal('remote'), source: httpUrl, filename: filename.optional() }),
]);
export type InputSpec = z.infer<typeof inputSpec>;

const target = z.string().min(1).max(32).meta({ description: 'A target of GET /v1/formats.' });
const conversionOptions = z
  .record(z.string(), z.unknown())
  .optional()
  .meta({ description: 'The target’s options, as GET /v1/formats lists them.' });

/** online-convert's `category` of a conversion: accepted when it is the target's own (GET /v1/formats). */
const category = z
  .string()
  .max(32)
  .meta({ description: 'Optional (online-convert sends it): must be the target’s category (video, audio, image).' });

/** The category a conversion states must be its target's: the problem, or null. */
export function categoryProblem(
  stated: string | undefined,
  target: { target: string; category: string },
): string | null {
  if (stated === undefined || stated.toLowerCase() === target.category) return null;
  return `target ${target.target} is in category ${target.category}, not "${stated}"`;
}

/** The catalog's checks of a target and its options (issues at `target`, `category` and `options.<name>`). */
export function checkConversion(
  c: { target: string; category?: string; options?: Record<string, unknown> },
  ctx: z.RefinementCtx,
): void {
  const spec = findTarget(c.target);
  if (!spec) {
    ctx.addIssue({ code: 'custom', path: ['target'], message: `unknown target "${c.target}"; see GET /v1/formats` });
    return;
  }
  const wrongCategory = categoryProblem(c.category, spec);
  if (wrongCategory) ctx.addIssue({ code: 'custom', path: ['category'], message: wrongCategory });
  for (const p of validateOptions(spec, c.options)) {
    ctx.addIssue({ code: 'custom', path: p.field.split('.'), message: p.message });
  }
}

/** A conversion stated in full: a target and its options (the web page's form). */
export const conversionSpec = z
  .strictObject({ target, options: conversionOptions })
  .superRefine((c, ctx) => checkConversion(c, ctx));
export type ConversionSpec = z.infer<typeof conversionSpec>;

/** A preset reference: a preset's id, or its name (POST /v1/presets). */
export const presetRef = text(100)
  .min(1)
  .meta({ description: 'A preset of this API key (POST /v1/presets): its id or its name.' });

/**
 * A conversion of the jobs API: a target with options, or a preset (`{"preset": "<id or name>"}`),
 * whose target and options the conversion's own `target` and `options` may restate and override.
 * Without a preset the catalog checks run here; with one they run once the preset is resolved
 * (JobsService), on the merged target and options.
 */
export const conversionRequest = z
  .strictObject({
    preset: presetRef.optional(),
    target: target.optional(),
    category: category.optional(),
    options: conversionOptions,
  })
  .superRefine((c, ctx) => {
    if (c.preset !== undefined) return;
    if (c.target === undefined) {
      ctx.addIssue({ code: 'custom', path: ['target'], message: 'a target (or a preset) is required' });
      return;
    }
    checkConversion({ target: c.target, category: c.category, options: c.options }, ctx);
  });
export type ConversionRequest = z.infer<typeof conversionRequest>;

const notifyStatus = z.boolean().meta({
  description:
    'online-convert’s notify_status: true sends a callback on every status change (job.downloading, job.queued, job.processing), not only at the end.',
});

export const createJobBody = z.strictObject({
  process: z.boolean().default(true),
  input: z.array(inputSpec).max(100).default([]),
  conversion: z.array(conversionRequest).max(20).default([]),
  callback: httpUrl.optional(),
  notify_status: notifyStatus.optional(),
  tag: text(255).optional(),
  /** Epoch seconds, as uploads' `expires_at`; 0 = keep; default: KILN_JOB_RETENTION_SECONDS after the job ends. */
  expires_at: z
    .number()
    .int('must be whole epoch seconds')
    .min(0)
    .max(JOB_EXPIRES_AT_MAX, 'must be epoch seconds no later than the year 9999 (or 0 to keep)')
    .optional()
    .meta({
      description:
        "Epoch seconds when the job's files and rows are deleted (not before it ends); 0 = keep; default: KILN_JOB_RETENTION_SECONDS after it ends.",
    }),
});

export const patchJobBody = z.strictObject({
  process: z.literal(true, { message: 'only process: true can be set' }).optional(),
  callback: httpUrl.optional(),
  notify_status: notifyStatus.optional(),
  tag: text(255).optional(),
});

export const listJobsQuery = z.strictObject({
  status: z
    .enum(['incomplete', 'queued', 'downloading', 'processing', 'completed', 'failed', 'canceling', 'canceled'])
    .optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(200).optional(),
});
