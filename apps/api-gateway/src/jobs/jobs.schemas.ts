import { z } from 'zod';
import { findTarget, validateOptions } from '@kiln/contracts';

const httpUrl = z
  .string()
  .max(2048)
  .refine((v) => {
    try {
      const u = new URL(v);
      return (u.protocol === 'http:' || u.protocol === 'https:') && !!u.hostname;
    } catch {
      return false;
    }
  }, 'must be an http or https URL');

const filename = z.string().min(1).max(255);

export const inputSpec = z.discriminatedUnion('type', [
  z
    .strictObject({
      type: z.literal('upload'),
      filename: filename.optional(),
      size: z.number().int().min(0).optional(),
      /** A standalone upload session (POST /v1/uploads or tus without job_id) that becomes this input's file. */
      upload_id: z.string().uuid('must be the id of an upload session').optional(),
    })
    .refine((i) => i.upload_id === undefined || (i.size === undefined && i.filename === undefined), {
      message: 'with upload_id, filename and size come from the upload',
      path: ['upload_id'],
    }),
  z.strictObject({ type: z.literal('remote'), source: httpUrl, filename: filename.optional() }),
]);
export type InputSpec = z.infer<typeof inputSpec>;

export const conversionSpec = z
  .strictObject({
    target: z.string().min(1).max(32),
    options: z.record(z.string(), z.unknown()).optional(),
  })
  .superRefine((c, ctx) => {
    const spec = findTarget(c.target);
    if (!spec) {
      ctx.addIssue({ code: 'custom', path: ['target'], message: `unknown target "${c.target}"; see GET /v1/formats` });
      return;
    }
    for (const p of validateOptions(spec, c.options)) {
      ctx.addIssue({ code: 'custom', path: p.field.split('.'), message: p.message });
    }
  });
export type ConversionSpec = z.infer<typeof conversionSpec>;

export const createJobBody = z.strictObject({
  process: z.boolean().default(true),
  input: z.array(inputSpec).max(100).default([]),
  conversion: z.array(conversionSpec).max(20).default([]),
  callback: httpUrl.optional(),
  tag: z.string().max(255).optional(),
});

export const patchJobBody = z.strictObject({
  process: z.literal(true, { message: 'only process: true can be set' }).optional(),
  callback: httpUrl.optional(),
  tag: z.string().max(255).optional(),
});

export const listJobsQuery = z.strictObject({
  status: z.enum(['incomplete', 'queued', 'downloading', 'processing', 'completed', 'failed', 'canceled']).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(200).optional(),
});
