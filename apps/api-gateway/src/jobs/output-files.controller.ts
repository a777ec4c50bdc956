import { Controller, Get, Inject, Param, Res } from '@nestjs/common';
import type { Response } from 'express';
import { KILN_CONFIG, type KilnConfig } from '@kiln/config';
import { KilnError } from '@kiln/contracts';
import { PRISMA, type PrismaClient } from '@kiln/database';
import { OBJECT_STORE, type ObjectStore } from '@kiln/storage';
import { fileSignatureHolds } from '@kiln/workflow';
import { Public } from '../auth/auth.guard';

/** One file of a many-file output as the converter stores it (the output row's `files`). */
interface StoredFile {
  name: string;
  key: string;
  size: number;
  content_type: string;
}

const PLAYLIST = /\.m3u8$/i;

/**
 * `GET /v1/files/{output id}/{expires}/{signature}/{name…}`: the files of a many-file output under a
 * signed path (libs/workflow output-file-urls.ts), so that an HLS master playlist plays from its
 * `stream_uri` as it is. Playlists are small and served here (a player resolves their relative URIs
 * against this path); every other file (segments, pages) is a 302 to a presigned storage URL valid
 * until the same expiry. Without the right signature, or past the expiry, or for a job that has
 * ended its data, the answer is 404 with nothing said about why.
 */
@Controller('v1/files')
export class OutputFilesController {
  constructor(
    @Inject(PRISMA) private readonly prisma: PrismaClient,
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
    @Inject(KILN_CONFIG) private readonly config: KilnConfig,
  ) {}

  @Get(':outputId/:expires/:signature/:name')
  @Public()
  async topFile(
    @Param('outputId') outputId: string,
    @Param('expires') expires: string,
    @Param('signature') signature: string,
    @Param('name') name: string,
    @Res() res: Response,
  ): Promise<void> {
    await this.file(outputId, expires, signature, name, res);
  }

  /** A file one folder down (an HLS rendition's playlist and segments: `360p/segment_000.ts`). */
  @Get(':outputId/:expires/:signature/:dir/:name')
  @Public()
  async nestedFile(
    @Param('outputId') outputId: string,
    @Param('expires') expires: string,
    @Param('signature') signature: string,
    @Param('dir') dir: string,
    @Param('name') name: string,
    @Res() res: Response,
  ): Promise<void> {
    await this.file(outputId, expires, signature, `${dir}/${name}`, res);
  }

  private async file(
    outputId: string,
    expiresParam: string,
    signature: string,
    name: string,
    res: Response,
  ): Promise<void> {
    const expires = Number(expiresParam);
    const left = expires - Math.floor(Date.now() / 1000);
    const missing = () => new KilnError('not_found', 'No such file, or its link has expired.');
    if (!/^[0-9a-f-]{36}$/i.test(outputId) || !Number.isSafeInteger(expires) || left <= 0) throw missing();
    const output = await this.prisma.output.findUnique({
      where: { id: outputId },
      select: {
        status: true,
        objectKey: true,
        filename: true,
        contentType: true,
        size: true,
        files: true,
        job: { select: { token: true } },
      },
    });
    if (output?.status !== 'completed' || !fileSignatureHolds(output.job.token, outputId, expires, signature))
      throw missing();
    const files: StoredFile[] = Array.isArray(output.files)
      ? (output.files as unknown as StoredFile[])
      : output.objectKey && output.filename
        ? [
            {
              name: output.filename,
              key: output.objectKey,
              size: Number(output.size),
              content_type: output.contentType ?? '',
            },
          ]
        : [];
    const file = files.find((f) => f.name === name);
    if (!file) throw missing();
    if (PLAYLIST.test(file.name)) {
      const body = await this.store.get(file.key);
      res.status(200);
      res.setHeader('Content-Type', file.content_type || 'application/vnd.apple.mpegurl');
      res.setHeader('Content-Length', String(file.size));
      res.setHeader('Cache-Control', `private, max-age=${Math.min(left, 60)}`);
      res.setHeader('Access-Control-Allow-Origin', '*');
      body.pipe(res);
      return;
    }
    const ttl = Math.max(1, Math.min(left, this.config.KILN_DOWNLOAD_URL_TTL_SECONDS));
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.redirect(302, await this.store.presignGet(file.key, ttl, { contentType: file.content_type }));
  }
}
