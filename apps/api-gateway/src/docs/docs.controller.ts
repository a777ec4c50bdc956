import { Controller, Get, Header, Req } from '@nestjs/common';
import type { Request } from 'express';
import { Public } from '../auth/auth.guard';
import { openApiDocument } from './openapi';

@Controller('docs')
export class DocsController {
  @Get('openapi.json')
  @Public()
  document(@Req() req: Request) {
    return openApiDocument(`${req.protocol}://${req.get('host')}`);
  }

  /** A readable index of the OpenAPI document (no external assets: works offline). */
  @Get()
  @Public()
  @Header('Content-Type', 'text/html; charset=utf-8')
  index(@Req() req: Request): string {
    const doc = openApiDocument() as { paths: Record<string, Record<string, { summary?: string }>> };
    const rows = Object.entries(doc.paths)
      .flatMap(([path, ops]) =>
        Object.entries(ops)
          .filter(([m]) => m !== 'parameters')
          .map(
            ([m, op]) =>
              `<tr><td><code>${m.toUpperCase()}</code></td><td><code>${path}</code></td><td>${escapeHtml(op.summary ?? '')}</td></tr>`,
          ),
      )
      .join('\n');
    return `<!doctype html><html><head><meta charset="utf-8"><title>Kiln API</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem}td{padding:.2rem .8rem;border-bottom:1px solid #ddd}</style></head>
<body><h1>Kiln API v1</h1><p>OpenAPI 3.1 document: <a href="${escapeHtml(req.baseUrl)}/docs/openapi.json">/docs/openapi.json</a>. Authenticate with <code>X-Api-Key</code> or <code>Authorization: Bearer</code>; uploads also accept a job's <code>X-Job-Token</code>.</p>
<table>${rows}</table></body></html>`;
  }
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] as string);
}
