import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { KilnError } from '@kiln/contracts';
import { AllowJobToken, KeyScope } from '../auth/auth.guard';
import { Caller } from '../auth/principal.decorator';
import type { Principal } from '../auth/principal';
import { requestOrigin } from '../http/request-origin';
import { UploadSessionsService } from '../uploads/upload-sessions.service';
import {
  DIRECT_UPLOADS,
  createBodyOf,
  keyTarget,
  partNumbersOf,
  queryMetadata,
  type DirectUploadsApi,
  uppyBatchQuery,
  uppyCreateBody,
  uppyFormKeyQuery,
  uppyKeyQuery,
  uppyParamsQuery,
} from './uppy-s3';
import { parseOrThrow } from '../http/validation';

/** `{size: …}` → `{'metadata[size]': …}` (how the query names them). */
const prefixed = (meta: Record<string, string>) =>
  Object.fromEntries(Object.entries(meta).map(([k, v]) => [`metadata[${k}]`, v]));

/**
 * Companion's S3 endpoints (what @uppy/aws-s3 calls with `companionEndpoint: '<kiln>/v1/uppy'`), served
 * by Kiln's direct upload sessions: Uppy sends the bytes straight to S3 with URLs Kiln signs. `uploadId`
 * and `key` given to Uppy are the Kiln upload id (the S3 upload id is never shown).
 *
 * Credentials: an API key (X-Api-Key / Authorization: Bearer) or a job token (X-Job-Token), or, because
 * @uppy/aws-s3 6 sends no headers of its own, a job token in the path:
 * `companionEndpoint: '<kiln>/v1/uppy/t/<job token>'`.
 */
@Controller({ path: ['v1/uppy/s3', 'v1/uppy/t/:jobToken/s3'] })
@KeyScope('uploads:write')
@AllowJobToken('resource')
export class UppyController {
  constructor(
    private readonly sessions: UploadSessionsService,
    @Inject(DIRECT_UPLOADS) private readonly direct: DirectUploadsApi,
  ) {}

  /** DirectUploadsService (bound to DIRECT_UPLOADS in the app module): 400 naming mode when direct uploads are off. */
  private service(): DirectUploadsApi {
    return this.direct;
  }

  /**
   * A small file in one form POST (Uppy without multipart): `?filename=&type=&metadata[size]=…` →
   * `{method:'POST', url, fields, headers}`. Uppy calls nothing when the POST is done: the page completes
   * with `POST …/s3/complete?key=<the answer's fields.key>` (or `POST /v1/uploads/{upload_id}/complete`).
   */
  @Get('params')
  async params(@Caller() caller: Principal, @Query() raw: unknown, @Req() req: Request) {
    const query = parseOrThrow(uppyParamsQuery, { ...(raw as object), ...prefixed(queryMetadata(req.originalUrl)) });
    const body = createBodyOf(query.filename, query.type, queryMetadata(req.originalUrl), caller, 'form');
    const view = (await this.service().create(caller, body, requestOrigin(req))) as UploadView & FormFields;
    return {
      method: 'POST',
      url: view.form_post_url,
      fields: view.form_post_params,
      headers: {},
      expires: Math.max(0, view.form_post_expires_at - Math.floor(Date.now() / 1000)),
      upload_id: view.id,
      location: view.location,
    };
  }

  /** Completes a form upload after Uppy's `upload-success`, named by its key (Kiln's addition to Companion's API). */
  @Post('complete')
  @HttpCode(200)
  async completeForm(@Caller() caller: Principal, @Query() query: unknown, @Req() req: Request) {
    const { key } = parseOrThrow(uppyFormKeyQuery, query);
    const id = this.uploadOfKey(key);
    const view = await this.service().complete(caller, id, requestOrigin(req));
    return { location: view.location, key, upload_id: view.id, status: view.status };
  }

  /** Body `{filename, type, metadata}` → `{key, uploadId}`. */
  @Post('multipart')
  async create(@Caller() caller: Principal, @Body() body: unknown, @Req() req: Request) {
    const b = parseOrThrow(uppyCreateBody, body ?? {});
    const view = await this.service().create(
      caller,
      createBodyOf(b.filename, b.type, b.metadata ?? {}, caller, 'multipart'),
      requestOrigin(req),
    );
    return { key: view.id, uploadId: view.id };
  }

  /** The parts S3 holds: `[{PartNumber, Size, ETag}]` (what Uppy resumes from). */
  @Get('multipart/:uploadId')
  async listParts(@Caller() caller: Principal, @Param('uploadId') id: string, @Query() query: unknown) {
    this.checkKey(id, parseOrThrow(uppyKeyQuery, query).key);
    const parts = await this.service().listParts(caller, id);
    return parts.map((p) => ({ PartNumber: p.part_number, Size: p.size, ETag: p.etag }));
  }

  /** Several part URLs at once: `?partNumbers=1,2` → `{presignedUrls: {"1": url, …}}` (older Uppy versions). */
  @Get('multipart/:uploadId/batch')
  async signBatch(@Caller() caller: Principal, @Param('uploadId') id: string, @Query() query: unknown) {
    const { key, partNumbers } = parseOrThrow(uppyBatchQuery, query);
    this.checkKey(id, key);
    const signed = await this.service().signParts(caller, id, partNumbersOf(partNumbers));
    const presignedUrls: Record<string, string> = {};
    for (const p of signed.parts) presignedUrls[String(p.part_number)] = p.url;
    return { presignedUrls };
  }

  /** One part URL: `{url, expires, headers}`; the URL signs the part's exact Content-Length. */
  @Get('multipart/:uploadId/:partNumber')
  async signPart(
    @Caller() caller: Principal,
    @Param('uploadId') id: string,
    @Param('partNumber') partNumber: string,
    @Query() query: unknown,
  ) {
    this.checkKey(id, parseOrThrow(uppyKeyQuery, query).key);
    const [n] = partNumbersOf(partNumber);
    const signed = await this.service().signParts(caller, id, [n]);
    const part = signed.parts[0];
    return {
      url: part.url,
      expires: Math.max(0, signed.expires_at - Math.floor(Date.now() / 1000)),
      headers: part.headers ?? {},
    };
  }

  /** Kiln's complete (every part present with its exact size), then the usual completion. `{location, key}`. */
  @Post('multipart/:uploadId/complete')
  @HttpCode(200)
  async complete(
    @Caller() caller: Principal,
    @Param('uploadId') id: string,
    @Query() query: unknown,
    @Req() req: Request,
  ) {
    this.checkKey(id, parseOrThrow(uppyKeyQuery, query).key);
    const view = await this.service().complete(caller, id, requestOrigin(req));
    return { location: view.location, key: view.id, upload_id: view.id, status: view.status };
  }

  /** Aborts the session (its parts are dropped; a job's input waits for another upload). */
  @Delete('multipart/:uploadId')
  async abort(
    @Caller() caller: Principal,
    @Param('uploadId') id: string,
    @Query() query: unknown,
    @Res({ passthrough: true }) res: Response,
  ) {
    this.checkKey(id, parseOrThrow(uppyKeyQuery, query).key);
    await this.sessions.abort(caller, id);
    res.status(200);
    return {};
  }

  /** `key` as Kiln gave it to Uppy (the upload id); another upload's key is refused. */
  private checkKey(id: string, key: unknown): void {
    if (key === undefined) return;
    if (typeof key !== 'string' || keyTarget(key) !== id.toLowerCase())
      throw new KilnError('invalid_input', 'Invalid Uppy request: key: must be the key Kiln answered for this upload', [
        { field: 'key', message: 'must be the key Kiln answered for this upload' },
      ]);
  }

  private uploadOfKey(key: unknown): string {
    const id = typeof key === 'string' ? keyTarget(key) : undefined;
    if (!id)
      throw new KilnError('invalid_input', 'Invalid Uppy request: key: must be the key of a Kiln upload', [
        { field: 'key', message: 'must be the key of a Kiln upload' },
      ]);
    return id;
  }
}

type UploadView = Awaited<ReturnType<DirectUploadsApi['create']>>;
interface FormFields {
  form_post_url: string;
  form_post_params: Record<string, string>;
  form_post_expires_at: number;
}
