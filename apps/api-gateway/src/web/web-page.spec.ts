// The web page's files as the gateway serves them: an allow-list built from the static folder at start,
// JavaScript modules as text/javascript with an ETag, and a not-found for any other name or path.
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Response } from 'express';
import { BUNDLED_MODULES, STATIC_DIR, WebPage, publicAssetNames } from './web-page';

/** Just what WebPage uses of an Express response. */
function fakeResponse() {
  const answer = { status: 0, headers: {} as Record<string, string | number>, body: undefined as Buffer | undefined };
  const res = {
    setHeader(name: string, value: string | number) {
      answer.headers[name.toLowerCase()] = value;
      return res;
    },
    status(code: number) {
      answer.status = code;
      return res;
    },
    end(body?: Buffer) {
      answer.body = body;
      return res;
    },
  };
  return { res: res as unknown as Response, answer };
}

function serve(page: WebPage, name: string, ifNoneMatch?: string) {
  const { res, answer } = fakeResponse();
  return { served: page.sendAsset(name, ifNoneMatch, res), ...answer };
}

describe('WebPage static files', () => {
  let dir: string;
  let page: WebPage;

  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'kiln-web-page-'));
    const files: Record<string, string> = {
      'app.html': '<!doctype html><script type="module" src="/web/static/app.js"></script>',
      'login.html': '<form><!--message--></form>',
      'app.js': "import { api } from './api.js';\n",
      'api.js': 'export const api = 1;\n',
      'app.css': 'body {}\n',
      'icon.svg': '<svg xmlns="http://www.w3.org/2000/svg"/>',
      '.hidden.js': 'secret',
      'Upper.js': 'not a page name',
      'notes.txt': 'not a page file',
      'app.js.map': '{}',
    };
    for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
    mkdirSync(path.join(dir, 'nested'));
    writeFileSync(path.join(dir, 'nested', 'deep.js'), 'export {};\n');
    page = new WebPage(dir);
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('lists the scripts, style sheets and images at the top of the folder, not the HTML pages', () => {
    expect(publicAssetNames(dir)).toEqual(['api.js', 'app.css', 'app.js', 'icon.svg']);
  });

  it('serves a module as text/javascript with an ETag, and a 304 when the browser has it', () => {
    const first = serve(page, 'api.js');
    expect(first).toMatchObject({ served: true, status: 200 });
    expect(first.headers).toMatchObject({
      'content-type': 'text/javascript; charset=utf-8',
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      'content-length': first.body!.length,
    });
    expect(first.body!.toString()).toBe('export const api = 1;\n');
    const etag = String(first.headers.etag);
    expect(etag).toMatch(/^"[\w-]{22}"$/);
    expect(serve(page, 'app.js').headers.etag).not.toBe(etag);

    const again = serve(page, 'api.js', etag);
    expect(again).toMatchObject({ served: true, status: 304, body: undefined });
    expect(serve(page, 'app.css').headers['content-type']).toBe('text/css; charset=utf-8');
    expect(serve(page, 'icon.svg').headers['content-type']).toBe('image/svg+xml');
  });

  it.each([
    'app.html',
    'login.html',
    'notes.txt',
    '.hidden.js',
    'Upper.js',
    'app.js.map',
    'nested',
    'nested/deep.js',
    'deep.js',
    '../web-page.js',
    '..%2Fweb-page.js',
    './app.js',
    'app.js/',
    'APP.JS',
    'app.js\0',
    '',
    'constructor',
    '__proto__',
  ])('refuses %j', (name) => {
    const { served, status, headers } = serve(page, name);
    expect(served).toBe(false);
    expect(status).toBe(0);
    expect(headers).toEqual({});
  });

  it('refuses to start without the page script', () => {
    const empty = mkdtempSync(path.join(os.tmpdir(), 'kiln-web-page-'));
    try {
      writeFileSync(path.join(empty, 'app.html'), '');
      writeFileSync(path.join(empty, 'login.html'), '');
      expect(() => new WebPage(empty)).toThrow(/app\.js is missing/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe('the page modules in the source folder', () => {
  const names = publicAssetNames(STATIC_DIR);
  const scripts = names.filter((n) => n.endsWith('.js'));
  const IMPORT = /^\s*import\s[^'"]*['"]([^'"]+)['"]/gm;
  const importsOf = (name: string) =>
    [...readFileSync(path.join(STATIC_DIR, name), 'utf8').matchAll(IMPORT)].map((m) => m[1]);

  it('are all served, and import only each other by a relative name', () => {
    expect(scripts).toContain('app.js');
    for (const name of scripts) {
      for (const spec of importsOf(name)) {
        expect({ name, spec, relative: spec.startsWith('./') }).toEqual({ name, spec, relative: true });
        // uppy.js is built into dist/ by scripts/build.mjs (esbuild), not kept in the source folder.
        expect([...names, ...BUNDLED_MODULES]).toContain(spec.slice(2));
      }
    }
  });

  it('import each other without a cycle', () => {
    const done = new Set<string>();
    const visit = (name: string, trail: string[]) => {
      if (trail.includes(name)) throw new Error(`import cycle: ${[...trail, name].join(' → ')}`);
      if (done.has(name) || BUNDLED_MODULES.includes(name)) return;
      for (const spec of importsOf(name)) visit(spec.slice(2), [...trail, name]);
      done.add(name);
    };
    for (const name of scripts) visit(name, []);
    expect(done.size).toBe(scripts.length);
  });
});
