/**
 * The office engine against the real LibreOffice (soffice) and poppler (pdfinfo, pdftoppm). Every
 * input is made here: HTML, CSV and flat-ODF text written by the test and turned into docx, odt,
 * xlsx, odp, pptx and PDFs by LibreOffice; zip bombs and encrypted zips by `zip`. Outputs are read
 * back with real readers: pdfinfo, sharp, unzip.
 */
import { execFile, spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { chmod, mkdir, mkdtemp, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { type ConversionOptions, detectInputKind, findTarget, KIND_HEAD_BYTES } from '@kiln/contracts';
import sharp from 'sharp';
import { MediaError } from '../../media-error';
import type { DocumentInfo, EngineResult, EngineRunContext } from '../engine';
import { OfficeEngine } from './index';

const exec = promisify(execFile);
const SOFFICE = 'soffice';

let root: string;
let engine: OfficeEngine;
let soloEngine: OfficeEngine;
/** Every soffice start and end of `engine`, logged by a wrapper around the real soffice. */
let sofficeLog: string;
let counter = 0;

async function makeDir(name: string): Promise<string> {
  const dir = join(root, `${name}-${++counter}`);
  await mkdir(dir, { recursive: true });
  return dir;
}

async function detected(path: string) {
  const file = await open(path, 'r');
  try {
    const head = Buffer.alloc(KIND_HEAD_BYTES);
    const { bytesRead } = await file.read(head, 0, KIND_HEAD_BYTES, 0);
    return detectInputKind(head.subarray(0, bytesRead), basename(path));
  } finally {
    await file.close();
  }
}

function context(overrides: Partial<EngineRunContext> = {}): EngineRunContext {
  return { signal: new AbortController().signal, timeoutMs: 60_000, ...overrides };
}

async function probe(path: string, on: OfficeEngine = engine): Promise<DocumentInfo> {
  return (await on.probe(path, { timeoutMs: 30_000, detected: await detected(path) })) as DocumentInfo;
}

/** Probes and converts `path` to `target`; the files land in a fresh folder. */
async function convert(
  path: string,
  target: string,
  options: ConversionOptions = {},
  ctx: Partial<EngineRunContext> = {},
  on: OfficeEngine = engine,
): Promise<EngineResult & { outputDir: string }> {
  const facts = await probe(path, on);
  const outputDir = await makeDir('out');
  const spec = findTarget(target);
  if (!spec) throw new Error(`no target ${target}`);
  const result = await on.convert(
    { target: spec, options, inputPath: path, outputDir, baseName: 'report', facts },
    context(ctx),
  );
  return { ...result, outputDir };
}

/** Converts and keeps the output under a name of its own (the next input). */
async function convertTo(path: string, target: string, name: string): Promise<string> {
  const { files } = await convert(path, target);
  const dest = join(root, name);
  await exec('cp', [files[0].path, dest]);
  return dest;
}

async function pdfPages(path: string): Promise<number> {
  const { stdout } = await exec('pdfinfo', [path]);
  return Number(/^Pages:\s+(\d+)/m.exec(stdout)?.[1]);
}

async function pdfPageSizePt(path: string): Promise<{ w: number; h: number }> {
  const { stdout } = await exec('pdfinfo', [path]);
  const m = /^Page size:\s+([\d.]+) x ([\d.]+) pts/m.exec(stdout);
  if (!m) throw new Error('no page size');
  return { w: Number(m[1]), h: Number(m[2]) };
}

async function zipEntries(path: string): Promise<string[]> {
  const { stdout } = await exec('unzip', ['-Z1', path]);
  return stdout.split('\n').filter(Boolean);
}

/** A cold soffice with a throwaway default profile, for making inputs (and for control runs). */
async function plainSoffice(args: string[]): Promise<void> {
  await exec(
    SOFFICE,
    [`-env:UserInstallation=file://${join(root, 'plain-profile')}`, '--headless', '--norestore', ...args],
    { timeout: 120_000 },
  );
}

/** pids of processes whose command line contains `text`. */
async function pgrep(text: string): Promise<number[]> {
  const { stdout } = await exec('pgrep', ['-f', '--', text]).catch(() => ({ stdout: '' }));
  return stdout
    .split('\n')
    .filter(Boolean)
    .map(Number)
    .filter((pid) => pid !== process.pid);
}

async function until<T>(what: string, check: () => Promise<T | null | undefined | false>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function expectMediaError(p: Promise<unknown>, code: string, message?: RegExp): Promise<MediaError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(MediaError);
  const me = err as MediaError;
  expect(me.code).toBe(code);
  if (message) expect(me.message).toMatch(message);
  return me;
}

const tenPageHtml = () =>
  `<!DOCTYPE html><html><body>${Array.from(
    { length: 10 },
    (_, i) =>
      `<h1${i > 0 ? ' style="page-break-before: always"' : ''}>Page ${i + 1}</h1>${'<p>Lorem ipsum dolor sit amet.</p>'.repeat(5)}`,
  ).join('')}</body></html>`;

let html: string;
let docx: string;
let pdf: string;
let csv: string;
let odp: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'kiln-office-'));
  sofficeLog = join(root, 'soffice.log');
  const real = (await exec('sh', ['-c', `command -v ${SOFFICE}`])).stdout.trim();
  const wrapper = join(root, 'soffice-logged');
  await writeFile(
    wrapper,
    [
      '#!/bin/sh',
      `echo "start $$ $(date +%s%N) $*" >> '${sofficeLog}'`,
      `'${real}' "$@"`,
      'rc=$?',
      `echo "end $$ $(date +%s%N)" >> '${sofficeLog}'`,
      'exit $rc',
      '',
    ].join('\n'),
  );
  await chmod(wrapper, 0o755);
  engine = new OfficeEngine({ slots: 2, profileRoot: join(root, 'profiles'), sofficePath: wrapper });
  soloEngine = new OfficeEngine({ slots: 1, profileRoot: join(root, 'solo-profiles') });

  html = join(root, 'ten.html');
  await writeFile(html, tenPageHtml());
  docx = await convertTo(html, 'docx', 'ten.docx');
  pdf = await convertTo(docx, 'pdf', 'ten.pdf');
  csv = join(root, 'table.csv');
  await writeFile(csv, 'name,city,amount\nZoë,Zürich,12.5\n"Smith, J",Paris,7\n');
  const fodp = join(root, 'deck.fodp');
  await writeFile(
    fodp,
    `<?xml version="1.0" encoding="UTF-8"?>
<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" office:version="1.3" office:mimetype="application/vnd.oasis.opendocument.presentation">
<office:body><office:presentation>${[1, 2, 3]
      .map(
        (n) =>
          `<draw:page draw:name="Slide ${n}"><draw:frame svg:x="2cm" svg:y="2cm" svg:width="20cm" svg:height="3cm"><draw:text-box><text:p>Slide ${n}</text:p></draw:text-box></draw:frame></draw:page>`,
      )
      .join('')}</office:presentation></office:body></office:document>`,
  );
  await plainSoffice(['--convert-to', 'odp', '--outdir', root, fodp]);
  odp = join(root, 'deck.odp');
}, 300_000);

afterAll(async () => {
  await engine?.close();
  await soloEngine?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('documents through LibreOffice', () => {
  it('makes a 10-page docx and odt from HTML, and a 10-page PDF from the docx', async () => {
    expect(await zipEntries(docx)).toContain('word/document.xml');
    expect(await pdfPages(pdf)).toBe(10);
    const odt = await convert(html, 'odt');
    expect(odt.files.map((f) => f.name)).toEqual(['report.odt']);
    expect(odt.files[0].contentType).toBe('application/vnd.oasis.opendocument.text');
    expect(await zipEntries(odt.files[0].path)).toContain('content.xml');
    const fromOdt = await convert(odt.files[0].path, 'pdf');
    expect(await pdfPages(fromOdt.files[0].path)).toBe(10);
  }, 120_000);

  it('converts a docx to odt and plain text to pdf', async () => {
    const odt = await convert(docx, 'odt');
    expect(await zipEntries(odt.files[0].path)).toContain('content.xml');
    const txt = join(root, 'notes.txt');
    await writeFile(txt, 'Notes: Grüße aus Kiln\nline two\n');
    const out = await convert(txt, 'pdf');
    expect(await pdfPages(out.files[0].path)).toBe(1);
    const { stdout } = await exec('pdftotext', [out.files[0].path, '-']);
    expect(stdout).toContain('Grüße aus Kiln');
  }, 120_000);

  it('converts a CSV to xlsx, ods, pdf and back to UTF-8 comma CSV', async () => {
    const xlsx = await convert(csv, 'xlsx');
    expect(xlsx.files[0].name).toBe('report.xlsx');
    expect(await zipEntries(xlsx.files[0].path)).toContain('xl/workbook.xml');
    const ods = await convert(csv, 'ods');
    expect(await zipEntries(ods.files[0].path)).toContain('content.xml');
    const asPdf = await convert(xlsx.files[0].path, 'pdf');
    expect(await pdfPages(asPdf.files[0].path)).toBe(1);
    const back = await convert(ods.files[0].path, 'csv');
    expect(back.files[0].contentType).toBe('text/csv');
    const text = await readFile(back.files[0].path, 'utf8');
    expect(text.trim().split('\n')).toEqual(['name,city,amount', 'Zoë,Zürich,12.5', '"Smith, J",Paris,7']);
  }, 120_000);

  it('converts a presentation to pptx, odp and pdf', async () => {
    const pptx = await convert(odp, 'pptx');
    expect(await zipEntries(pptx.files[0].path)).toEqual(expect.arrayContaining(['ppt/presentation.xml']));
    const odpBack = await convert(pptx.files[0].path, 'odp');
    expect(await zipEntries(odpBack.files[0].path)).toContain('content.xml');
    const asPdf = await convert(pptx.files[0].path, 'pdf');
    expect(await pdfPages(asPdf.files[0].path)).toBe(3);
  }, 120_000);

  it('refuses a target LibreOffice does not make from that kind', async () => {
    await expectMediaError(convert(csv, 'docx'), 'unsupported_media_type');
  });
});

describe('PDF pages through poppler', () => {
  it('probes the page count', async () => {
    expect(await probe(pdf)).toEqual({ kind: 'pdf', format: 'pdf', size_bytes: (await stat(pdf)).size, pages: 10 });
  });

  it('renders every page as PNG in page order, sized for the dpi', async () => {
    const { files } = await convert(pdf, 'png', { dpi: 50 });
    expect(files.map((f) => f.name)).toEqual(Array.from({ length: 10 }, (_, i) => `report-${i + 1}.png`));
    const size = await pdfPageSizePt(pdf);
    for (const f of files) {
      const meta = await sharp(f.path).metadata();
      expect(meta.format).toBe('png');
      expect(Math.abs((meta.width ?? 0) - (size.w * 50) / 72)).toBeLessThanOrEqual(1);
      expect(Math.abs((meta.height ?? 0) - (size.h * 50) / 72)).toBeLessThanOrEqual(1);
      expect(f.contentType).toBe('image/png');
    }
  }, 60_000);

  it('renders one asked-for page, and the page-count cap when none is asked', async () => {
    const one = await convert(pdf, 'png', { page: 3, dpi: 30 });
    expect(one.files.map((f) => f.name)).toEqual(['report.png']);
    expect(await readdir(one.outputDir)).toEqual(['report.png']);
    const capped = new OfficeEngine({ slots: 1, profileRoot: join(root, 'capped'), maxPages: 4 });
    const four = await convert(pdf, 'png', { dpi: 20 }, {}, capped);
    expect(four.files.map((f) => f.name)).toEqual(['report-1.png', 'report-2.png', 'report-3.png', 'report-4.png']);
  }, 60_000);

  it('renders JPEG at the asked dpi and quality', async () => {
    const size = await pdfPageSizePt(pdf);
    const high = await convert(pdf, 'jpg', { page: 1, dpi: 100, quality: 95 });
    const low = await convert(pdf, 'jpg', { page: 1, dpi: 100, quality: 20 });
    const meta = await sharp(high.files[0].path).metadata();
    expect(meta.format).toBe('jpeg');
    expect(Math.abs((meta.width ?? 0) - (size.w * 100) / 72)).toBeLessThanOrEqual(1);
    expect(high.files[0].contentType).toBe('image/jpeg');
    expect((await stat(low.files[0].path)).size).toBeLessThan((await stat(high.files[0].path)).size);
  }, 60_000);

  it('refuses a page past the end, naming the page count', async () => {
    await expectMediaError(convert(pdf, 'png', { page: 11 }), 'unprocessable', /page 11 .*has 10 pages/);
  });
});

describe('hardening', () => {
  it('gives each parallel conversion a slot of its own: no two share a LibreOffice profile', async () => {
    await writeFile(sofficeLog, '');
    const runs = await Promise.all(Array.from({ length: 6 }, () => convert(csv, 'ods')));
    expect(runs).toHaveLength(6);
    const lines = (await readFile(sofficeLog, 'utf8')).split('\n').filter(Boolean);
    const started = new Map<string, { profile: string; at: bigint }>();
    const intervals = new Map<string, { from: bigint; to: bigint }[]>();
    for (const line of lines) {
      const [what, pid, at, ...args] = line.split(' ');
      const rest = args.join(' ');
      if (what === 'start' && rest.includes('--convert-to')) {
        const profile = /UserInstallation=file:\/\/(\S+)/.exec(rest)?.[1] ?? '';
        started.set(pid, { profile, at: BigInt(at) });
      } else if (what === 'end' && started.has(pid)) {
        const s = started.get(pid)!;
        const list = intervals.get(s.profile) ?? [];
        list.push({ from: s.at, to: BigInt(at) });
        intervals.set(s.profile, list);
      }
    }
    expect([...intervals.keys()].sort()).toEqual([
      join(root, 'profiles', 'slot-0', 'profile'),
      join(root, 'profiles', 'slot-1', 'profile'),
    ]);
    expect([...intervals.values()].reduce((n, l) => n + l.length, 0)).toBe(6);
    for (const list of intervals.values()) {
      list.sort((a, b) => (a.from < b.from ? -1 : 1));
      for (let i = 1; i < list.length; i++) expect(list[i].from >= list[i - 1].to).toBe(true);
    }
  }, 120_000);

  it('runs every LibreOffice process of a slot under the memory ceiling (RLIMIT_DATA through prlimit)', async () => {
    const limit = 3 * 1024 ** 3;
    const profiles = join(root, 'limited-profiles');
    const limited = new OfficeEngine({ slots: 1, profileRoot: profiles, memoryLimitBytes: limit });
    try {
      const { files } = await convert(csv, 'ods', {}, {}, limited);
      expect((await stat(files[0].path)).size).toBeGreaterThan(0);
      // The resident stays warm: the launcher and soffice.bin it starts, found by their profile.
      const pids: number[] = [];
      for (const entry of await readdir('/proc')) {
        if (!/^\d+$/.test(entry)) continue;
        const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
        if (cmdline.includes(profiles) && cmdline.includes('soffice')) pids.push(Number(entry));
      }
      expect(pids.length).toBeGreaterThan(0);
      for (const pid of pids) {
        const limits = await readFile(`/proc/${pid}/limits`, 'utf8');
        const [soft, hard] = /^Max data size\s+(\S+)\s+(\S+)/m.exec(limits)!.slice(1);
        expect({ pid, soft, hard }).toEqual({ pid, soft: String(limit), hard: String(limit) });
      }
    } finally {
      await limited.close();
    }
  }, 120_000);

  it('never runs a macro: an OnLoad macro that works in a plain profile does nothing in the engine', async () => {
    const marker = join(root, 'macro-ran');
    const fodt = join(root, 'macro.fodt');
    await writeFile(
      fodt,
      `<?xml version="1.0" encoding="UTF-8"?>
<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:script="urn:oasis:names:tc:opendocument:xmlns:script:1.0" xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:ooo="http://openoffice.org/2004/office" xmlns:dom="http://www.w3.org/2001/xml-events" office:version="1.3" office:mimetype="application/vnd.oasis.opendocument.text">
<office:scripts><office:script script:language="ooo:Basic"><ooo:libraries><ooo:library-embedded ooo:name="Standard"><ooo:module ooo:name="Module1"><ooo:source-code>Sub Main
  Dim n As Integer
  n = FreeFile
  Open "${marker}" For Output As #n
  Print #n, "ran"
  Close #n
End Sub
</ooo:source-code></ooo:module></ooo:library-embedded></ooo:libraries></office:script>
<office:event-listeners><script:event-listener script:language="ooo:script" script:event-name="dom:load" xlink:href="vnd.sun.star.script:Standard.Module1.Main?language=Basic&amp;location=document" xlink:type="simple"/></office:event-listeners></office:scripts>
<office:body><office:text><text:p>A document with an auto-run macro</text:p></office:text></office:body></office:document>`,
    );
    await plainSoffice(['--convert-to', 'odt', '--outdir', root, fodt]);
    const odt = join(root, 'macro.odt');
    expect(await zipEntries(odt)).toContain('Basic/Standard/Module1.xml');

    // Control: the macro is live. Opened (not converted) in a profile with macro security "low", it runs.
    const lowProfile = join(root, 'low-profile');
    await mkdir(join(lowProfile, 'user'), { recursive: true });
    await writeFile(
      join(lowProfile, 'user', 'registrymodifications.xcu'),
      '<?xml version="1.0" encoding="UTF-8"?><oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="MacroSecurityLevel" oor:op="fuse"><value>0</value></prop></item></oor:items>',
    );
    // A first start in a new profile restarts itself; initialise it first.
    await exec(SOFFICE, [`-env:UserInstallation=file://${lowProfile}`, '--headless', '--terminate_after_init'], {
      timeout: 120_000,
    }).catch(() => undefined);
    const opened = spawn(SOFFICE, [`-env:UserInstallation=file://${lowProfile}`, '--headless', '--norestore', odt], {
      detached: true,
      stdio: 'ignore',
    });
    try {
      await until('the macro to run in the low-security profile', () => stat(marker).catch(() => null), 60_000);
    } finally {
      process.kill(-(opened.pid as number), 'SIGKILL');
    }
    await rm(marker);

    for (const target of ['pdf', 'docx']) {
      const out = await convert(odt, target);
      expect(out.files).toHaveLength(1);
    }
    await expect(stat(marker)).rejects.toThrow();
    for (const slot of ['slot-0', 'slot-1']) {
      const xcu = await readFile(join(root, 'profiles', slot, 'profile', 'user', 'registrymodifications.xcu'), 'utf8');
      expect(xcu).toMatch(/"MacroSecurityLevel"[^>]*><value>3</);
      expect(xcu).toMatch(/"DisableMacrosExecution"[^>]*><value>true</);
    }
  }, 180_000);

  it('loads nothing from the network: a linked image is never fetched', async () => {
    let requests = 0;
    const server: Server = createServer((_req, res) => {
      requests++;
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as AddressInfo).port;
      const linked = join(root, 'linked.html');
      await writeFile(
        linked,
        `<!DOCTYPE html><html><body><p>Picture:</p><img src="http://127.0.0.1:${port}/x.png" width="80" height="80"></body></html>`,
      );
      // Control: a plain profile fetches it.
      await plainSoffice(['--convert-to', 'pdf', '--outdir', join(root, 'control'), linked]);
      expect(requests).toBeGreaterThan(0);
      requests = 0;

      const asPdf = await convert(linked, 'pdf');
      expect(await pdfPages(asPdf.files[0].path)).toBe(1);
      const asDocx = await convert(linked, 'docx');
      const rels = (await exec('unzip', ['-p', asDocx.files[0].path, 'word/_rels/document.xml.rels'])).stdout;
      expect(rels).toContain(`http://127.0.0.1:${port}/x.png`);
      const again = await convert(asDocx.files[0].path, 'pdf');
      expect(await pdfPages(again.files[0].path)).toBe(1);
      const odt = await convert(asDocx.files[0].path, 'odt');
      await convert(odt.files[0].path, 'pdf');
      expect(requests).toBe(0);
    } finally {
      await new Promise((r) => server.close(r));
    }
  }, 180_000);

  it('times out a hung LibreOffice: kills its process tree, removes the output, restarts it', async () => {
    const slotProfile = join(root, 'solo-profiles', 'slot-0', 'profile');
    await convert(docx, 'pdf', {}, {}, soloEngine);
    expect(await pgrep(`soffice.bin.*${slotProfile}`)).toHaveLength(1);
    // Hung: every process of the resident (oosplash and soffice.bin) stopped, so none answers SIGTERM.
    for (const pid of await pgrep(slotProfile)) process.kill(pid, 'SIGSTOP');
    const started = Date.now();
    const err = await expectMediaError(convert(docx, 'pdf', {}, { timeoutMs: 2000 }, soloEngine), 'timeout');
    expect(err.message).toContain('2000 ms');
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(await pgrep(slotProfile)).toEqual([]);
    const next = await convert(docx, 'pdf', {}, {}, soloEngine);
    expect(await pdfPages(next.files[0].path)).toBe(10);
  }, 120_000);

  it('cancels a running conversion: no soffice of the slot is left, the output is removed', async () => {
    const slotProfile = join(root, 'solo-profiles', 'slot-0', 'profile');
    const big = join(root, 'big.html');
    await writeFile(
      big,
      `<!DOCTYPE html><html><body>${Array.from(
        { length: 3000 },
        (_, i) =>
          `<h2 style="page-break-before: always">Part ${i}</h2><table border="1"><tr><td>${'cell '.repeat(80)}</td></tr></table>`,
      ).join('')}</body></html>`,
    );
    const facts = await probe(big, soloEngine);
    const outputDir = await makeDir('canceled');
    const ac = new AbortController();
    const running = soloEngine.convert(
      { target: findTarget('pdf')!, options: {}, inputPath: big, outputDir, baseName: 'big', facts },
      context({ signal: ac.signal }),
    );
    await until('the conversion to be running', async () => (await pgrep(`${slotProfile}.*--convert-to`)).length > 0);
    ac.abort();
    await expectMediaError(running, 'canceled');
    expect(await pgrep(slotProfile)).toEqual([]);
    expect(await readdir(outputDir)).toEqual([]);
    const next = await convert(csv, 'xlsx', {}, {}, soloEngine);
    expect(next.files).toHaveLength(1);
  }, 120_000);

  it('restarts a crashed LibreOffice on a fresh profile, even when the crash left a lock and a broken registry', async () => {
    const slotProfile = join(root, 'solo-profiles', 'slot-0', 'profile');
    await convert(csv, 'ods', {}, {}, soloEngine);
    const [resident] = await pgrep(`soffice.bin.*${slotProfile}`);
    process.kill(resident, 'SIGSEGV');
    await until('the slot to have no process left', async () => (await pgrep(slotProfile)).length === 0);
    await writeFile(join(slotProfile, '.lock'), 'stale');
    await writeFile(join(slotProfile, 'user', 'registrymodifications.xcu'), '<oor:items broken');
    const next = await convert(docx, 'pdf', {}, {}, soloEngine);
    expect(await pdfPages(next.files[0].path)).toBe(10);
    const xcu = await readFile(join(slotProfile, 'user', 'registrymodifications.xcu'), 'utf8');
    expect(xcu).toMatch(/"BlockUntrustedRefererLinks"[^>]*><value>true</);
  }, 120_000);

  it('caps the output size over all files: payload_too_large and nothing left behind', async () => {
    const facts = await probe(docx);
    for (const [input, target, cap] of [
      [docx, 'pdf', 5000],
      [pdf, 'png', 20_000],
    ] as const) {
      const outputDir = await makeDir('capped');
      const f = input === docx ? facts : await probe(pdf);
      await expectMediaError(
        engine.convert(
          { target: findTarget(target)!, options: {}, inputPath: input, outputDir, baseName: 'x', facts: f },
          context({ maxOutputBytes: cap, maxOutputDescription: `${cap} bytes (test cap)` }),
        ),
        'payload_too_large',
        new RegExp(`${cap} bytes \\(test cap\\)`),
      );
      expect(await readdir(outputDir)).toEqual([]);
    }
  }, 60_000);

  it('stops pdftoppm as soon as the pages pass the cap, not after rendering them all', async () => {
    const long = join(root, 'long.html');
    await writeFile(
      long,
      `<!DOCTYPE html><html><body>${Array.from({ length: 60 }, (_, i) => `<h1 style="page-break-before: always">Page ${i + 1}</h1>`).join('')}</body></html>`,
    );
    const longPdf = (await convert(long, 'pdf')).files[0].path;
    expect(await pdfPages(longPdf)).toBe(60);
    let started = Date.now();
    const all = await convert(longPdf, 'png', { dpi: 200 });
    const full = Date.now() - started;
    expect(all.files).toHaveLength(60);
    const onePage = (await stat(all.files[0].path)).size;
    started = Date.now();
    await expectMediaError(convert(longPdf, 'png', { dpi: 200 }, { maxOutputBytes: onePage * 3 }), 'payload_too_large');
    expect(Date.now() - started).toBeLessThan(full / 2);
  }, 120_000);
});

describe('refusals', () => {
  it('refuses a password-protected and a damaged PDF', async () => {
    const locked = join(root, 'locked');
    await plainSoffice([
      '--convert-to',
      'pdf:writer_pdf_Export:{"EncryptFile":{"type":"boolean","value":"true"},"DocumentOpenPassword":{"type":"string","value":"secret"}}',
      '--outdir',
      locked,
      docx,
    ]);
    await expectMediaError(probe(join(locked, 'ten.pdf')), 'unprocessable', /password-protected/);
    const damaged = join(root, 'damaged.pdf');
    const bytes = await readFile(pdf);
    await writeFile(damaged, Buffer.concat([bytes.subarray(0, 400), Buffer.alloc(2000, 0x41)]));
    await expectMediaError(probe(damaged), 'unprocessable', /damaged/);
  }, 60_000);

  it('refuses a truncated docx, and a docx whose parts are not a document', async () => {
    const bytes = await readFile(docx);
    const cut = join(root, 'cut.docx');
    await writeFile(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
    await expectMediaError(probe(cut), 'unprocessable', /damaged.*central directory/);
    const dir = await makeDir('junk');
    await mkdir(join(dir, 'word'));
    await writeFile(join(dir, '[Content_Types].xml'), 'not xml at all');
    await writeFile(join(dir, 'word', 'document.xml'), Buffer.alloc(4000, 0x7f));
    const junk = join(root, 'junk.docx');
    await exec('zip', ['-q', '-r', junk, '[Content_Types].xml', 'word'], { cwd: dir });
    await expectMediaError(convert(junk, 'pdf'), 'unprocessable', /could not convert the docx/);
    // The office survives it.
    expect((await convert(csv, 'ods')).files).toHaveLength(1);
  }, 60_000);

  it('refuses a zip bomb, naming the ratio', async () => {
    const dir = await makeDir('bomb');
    await mkdir(join(dir, 'word'));
    await writeFile(join(dir, '[Content_Types].xml'), '<Types/>');
    const zeros = await open(join(dir, 'word', 'document.xml'), 'w');
    await zeros.truncate(64 * 1024 * 1024);
    await zeros.close();
    const bomb = join(root, 'bomb.docx');
    await exec('zip', ['-q', '-9', '-r', bomb, '[Content_Types].xml', 'word'], { cwd: dir });
    expect((await stat(bomb)).size).toBeLessThan(1024 * 1024);
    await expectMediaError(probe(bomb), 'unprocessable', /zip bomb: its part word\/document.xml unpacks \d+ times/);
  }, 60_000);

  it('refuses password-protected documents: an encrypted zip, an ODF with encryption data, an encrypted OOXML', async () => {
    const dir = await makeDir('pw');
    await exec('unzip', ['-q', docx, '-d', dir]);
    const zipped = join(root, 'zipcrypto.docx');
    await exec('zip', ['-q', '-r', '-P', 'secret', zipped, '.'], { cwd: dir });
    await expectMediaError(probe(zipped), 'unprocessable', /password-protected/);

    // An ODT as LibreOffice writes one with a password: its manifest carries encryption data.
    const odt = (await convert(docx, 'odt')).files[0].path;
    const odtDir = await makeDir('odt');
    await exec('unzip', ['-q', odt, '-d', odtDir]);
    const manifestPath = join(odtDir, 'META-INF', 'manifest.xml');
    const manifest = await readFile(manifestPath, 'utf8');
    await writeFile(
      manifestPath,
      manifest.replace(
        /(<manifest:file-entry manifest:full-path="content.xml"[^>]*?)\/>/,
        '$1><manifest:encryption-data manifest:checksum-type="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0#sha256-1k" manifest:checksum="AAAA"><manifest:algorithm manifest:algorithm-name="http://www.w3.org/2001/04/xmlenc#aes256-cbc" manifest:initialisation-vector="AAAA"/><manifest:key-derivation manifest:key-derivation-name="PBKDF2" manifest:key-size="32" manifest:iteration-count="100000" manifest:salt="AAAA"/></manifest:encryption-data></manifest:file-entry>',
      ),
    );
    expect(await readFile(manifestPath, 'utf8')).toContain('encryption-data');
    const lockedOdt = join(root, 'locked.odt');
    await exec('zip', ['-q', '-X', '-0', lockedOdt, 'mimetype'], { cwd: odtDir });
    await exec('zip', ['-q', '-X', '-r', lockedOdt, '.', '-x', 'mimetype'], { cwd: odtDir });
    expect((await detected(lockedOdt))?.format).toBe('odt');
    await expectMediaError(probe(lockedOdt), 'unprocessable', /odt document is password-protected/);

    // Office's encrypted OOXML: an OLE2 compound file with EncryptionInfo and EncryptedPackage streams.
    const ole = join(root, 'encrypted.docx');
    await writeFile(ole, compoundFile(['EncryptionInfo', 'EncryptedPackage']));
    expect((await exec('file', ['-b', ole])).stdout).toMatch(/Composite Document File V2|CDFV2/);
    await expectMediaError(
      engine.probe(ole, { timeoutMs: 10_000, detected: await detected(ole) }),
      'unprocessable',
      /password-protected/,
    );
  }, 60_000);

  it('refuses an input without a detected kind', async () => {
    await expectMediaError(engine.probe(csv, { timeoutMs: 10_000, detected: null }), 'unsupported_media_type');
  });
});

/**
 * A minimal OLE2 compound file (MS-CFB, version 3) holding empty streams with these names, laid out
 * as Office lays out an encrypted OOXML package: header, one FAT sector, one directory sector.
 */
function compoundFile(streams: string[]): Buffer {
  const header = Buffer.alloc(512, 0);
  Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]).copy(header, 0);
  header.writeUInt16LE(0x3e, 0x18);
  header.writeUInt16LE(3, 0x1a);
  header.writeUInt16LE(0xfffe, 0x1c);
  header.writeUInt16LE(9, 0x1e);
  header.writeUInt16LE(6, 0x20);
  header.writeUInt32LE(1, 0x2c); // FAT sectors
  header.writeUInt32LE(1, 0x30); // first directory sector
  header.writeUInt32LE(4096, 0x38);
  header.writeUInt32LE(0xfffffffe, 0x3c); // no mini FAT
  header.writeUInt32LE(0xfffffffe, 0x44); // no DIFAT sectors
  header.fill(0xff, 0x4c);
  header.writeUInt32LE(0, 0x4c); // the FAT is sector 0
  const fat = Buffer.alloc(512, 0xff);
  fat.writeUInt32LE(0xfffffffd, 0); // sector 0: FAT
  fat.writeUInt32LE(0xfffffffe, 4); // sector 1: directory, end of chain
  const dir = Buffer.alloc(512, 0);
  const entry = (i: number, name: string, type: number, child: number, right: number) => {
    const at = i * 128;
    const n = Buffer.from(`${name}\0`, 'utf16le');
    n.copy(dir, at);
    dir.writeUInt16LE(n.length, at + 0x40);
    dir.writeUInt8(type, at + 0x42);
    dir.writeUInt8(1, at + 0x43); // black
    dir.writeUInt32LE(0xffffffff, at + 0x44);
    dir.writeUInt32LE(right, at + 0x48);
    dir.writeUInt32LE(child, at + 0x4c);
    dir.writeUInt32LE(type === 5 ? 0xfffffffe : 0, at + 0x74);
  };
  entry(0, 'Root Entry', 5, 1, 0xffffffff);
  for (const [i, name] of streams.entries()) {
    entry(i + 1, name, 2, 0xffffffff, i + 2 <= streams.length ? i + 2 : 0xffffffff);
  }
  for (let i = streams.length + 1; i < 4; i++) {
    dir.writeUInt32LE(0xffffffff, i * 128 + 0x44);
    dir.writeUInt32LE(0xffffffff, i * 128 + 0x48);
    dir.writeUInt32LE(0xffffffff, i * 128 + 0x4c);
  }
  return Buffer.concat([header, fat, dir]);
}
