import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Response } from 'express';

/**
 * The web page's assets: plain HTML, CSS and JavaScript modules in ./static (copied next to the
 * compiled code by scripts/build.mjs), read once at start. No framework, no CDN: the page loads app.js
 * with `<script type="module">` and the modules import each other by name; the one bundled module is
 * Uppy (BUNDLED_MODULES).
 */
export const STATIC_DIR = path.join(__dirname, 'static');

/**
 * Modules scripts/build.mjs bundles with esbuild into the built static folder (not in the source one):
 * uppy.js, Uppy's core and @uppy/aws-s3 (bundle/uppy-entry.js), which the page's direct uploads use.
 */
export const BUNDLED_MODULES: readonly string[] = ['uppy.js'];

/**
 * Only the page's own files, no scripts inline; the page talks to this gateway and, for the file's bytes
 * (direct uploads), to the storage origins given (the S3 endpoint as browsers reach it).
 */
export function pageCsp(storageOrigins: readonly string[] = []): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    ["connect-src 'self'", ...storageOrigins].join(' '),
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "object-src 'none'",
  ].join('; ');
}
export const PAGE_CSP = pageCsp();

/** The origin (scheme, host, port) of a URL, for the CSP; undefined when it is not an http(s) URL. */
export function originOf(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : undefined;
  } catch {
    return undefined;
  }
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/**
 * Files served under /web/static/: every script, style sheet and image at the top of the folder, listed
 * once at start (the HTML pages are served at / only). A request names one of them exactly; anything
 * else (another name, a path, a dot file) is not found.
 */
const PUBLIC_NAME = /^[a-z0-9][a-z0-9-]*\.(?:js|css|svg)$/;

export function publicAssetNames(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isFile() && PUBLIC_NAME.test(entry.name))
    .map((entry) => entry.name)
    .sort();
}

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

/** Messages the login page can show, chosen by code (never echoed from the request). */
export const LOGIN_MESSAGES = {
  failed: 'That API key is not valid. A managed key needs the scopes jobs:read, jobs:write and uploads:write.',
  ended: 'Your session has ended; sign in again.',
  out: 'You are signed out.',
} as const;
export type LoginMessage = keyof typeof LOGIN_MESSAGES;

export class WebPage {
  private readonly assets = new Map<string, Asset>();
  private readonly appHtml: Buffer;
  private readonly loginHtml: string;

  private readonly csp: string;

  constructor(dir = STATIC_DIR, storageOrigins: readonly string[] = []) {
    this.csp = pageCsp(storageOrigins);
    const read = (name: string) => {
      try {
        return readFileSync(path.join(dir, name));
      } catch (err: unknown) {
        const why = `(run node scripts/build.mjs): ${String(err)}`;
        throw new Error(`the web page asset ${name} is missing from ${dir} ${why}`);
      }
    };
    let names: string[];
    try {
      names = publicAssetNames(dir);
    } catch (err: unknown) {
      throw new Error(`the web page's folder ${dir} cannot be read (run node scripts/build.mjs): ${String(err)}`);
    }
    for (const name of names) {
      const body = read(name);
      const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
      this.assets.set(name, { body, type: TYPES[path.extname(name)], etag });
    }
    if (!this.assets.has('app.js')) {
      throw new Error(`the web page's script app.js is missing from ${dir} (run node scripts/build.mjs)`);
    }
    this.appHtml = read('app.html');
    this.loginHtml = read('login.html').toString('utf8');
  }

  /** The converter page (for a signed-in browser). */
  sendApp(res: Response): void {
    this.sendHtml(res, this.appHtml);
  }

  /** The login form; a message from LOGIN_MESSAGES when given. */
  sendLogin(res: Response, message?: LoginMessage, status = 200): void {
    const note = message ? `<p class="alert" role="alert">${LOGIN_MESSAGES[message]}</p>` : '';
    this.sendHtml(res, Buffer.from(this.loginHtml.replace('<!--message-->', note)), status);
  }

  /** A static asset, or false when the name is not one of the page's files. */
  sendAsset(name: string, ifNoneMatch: string | undefined, res: Response): boolean {
    const asset = this.assets.get(name);
    if (!asset) return false;
    res.setHeader('Content-Type', asset.type);
    res.setHeader('ETag', asset.etag);
    res.setHeader('Cache-Control', 'no-cache');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    if (ifNoneMatch === asset.etag) {
      res.status(304).end();
      return true;
    }
    res.setHeader('Content-Length', asset.body.length);
    res.status(200).end(asset.body);
    return true;
  }

  private sendHtml(res: Response, body: Buffer, status = 200): void {
    res.status(status);
    res.setHeader('Content-Type', TYPES['.html']);
    res.setHeader('Content-Length', body.length);
    res.setHeader('Content-Security-Policy', this.csp);
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.end(body);
  }
}
