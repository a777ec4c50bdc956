// Case 7, documents: a 10-page docx → pdf, end to end through Kiln (upload start → callback; one
// gateway, one document converter: KILN_CONVERTER_ENGINES=office) against the bare command a user
// would run on the same file, `soffice --headless --convert-to pdf` with a fresh profile, run once
// after each job (interleaved). Target: Kiln ≤ 1.2 × bare. The docx is made by LibreOffice itself
// from generated HTML, so no binary fixture is kept.
import { execFile } from 'node:child_process';
import http from 'node:http';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { BenchStack, CallbackReceiver, envNumber, median, progress, quiesce } from '../bench-kit';
import { createJob, uploadAndWait } from '../jobs';
import type { BenchCase } from './case';

const run = promisify(execFile);
const SOFFICE = process.env.KILN_SOFFICE_PATH || 'soffice';

/** The bare conversion: a cold soffice with its own fresh profile, as a user would script it. */
async function bareSoffice(docx: string): Promise<number> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'kiln-bench-soffice-'));
  try {
    const t0 = performance.now();
    await run(
      SOFFICE,
      [`-env:UserInstallation=file://${dir}/profile`, '--headless', '--convert-to', 'pdf', '--outdir', dir, docx],
      { timeout: 300_000 },
    );
    return performance.now() - t0;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function makeDocx(dir: string, pages: number): Promise<string> {
  const body = Array.from(
    { length: pages },
    (_, i) =>
      `<h1>Section ${i + 1}</h1>${`<p>${'Kiln converts office documents through LibreOffice, each in its own profile. '.repeat(12)}</p>`.repeat(4)}` +
      (i < pages - 1 ? '<p style="page-break-after: always"></p>' : ''),
  ).join('');
  const html = path.join(dir, 'report.html');
  await writeFile(html, `<!doctype html><html><body>${body}</body></html>`);
  await run(
    SOFFICE,
    [
      `-env:UserInstallation=file://${dir}/profile`,
      '--headless',
      '--convert-to',
      'docx:MS Word 2007 XML',
      '--outdir',
      dir,
      html,
    ],
    { timeout: 300_000 },
  );
  const { stdout } = await run(SOFFICE, [
    `-env:UserInstallation=file://${dir}/profile`,
    '--headless',
    '--convert-to',
    'pdf',
    '--outdir',
    dir,
    path.join(dir, 'report.docx'),
  ]);
  void stdout;
  const info = await run('pdfinfo', [path.join(dir, 'report.pdf')]);
  const n = Number(/^Pages:\s+(\d+)/m.exec(info.stdout)?.[1]);
  if (n !== pages) throw new Error(`the generated docx has ${n} pages, not ${pages}`);
  return path.join(dir, 'report.docx');
}

export const documentCase: BenchCase = {
  name: 'document',
  summary: 'documents: 10-page docx → pdf end to end vs bare soffice --convert-to pdf',
  async run(ctx, emit) {
    const jobs = Math.round(envNumber('BENCH_DOCUMENT_JOBS', 5));
    const dir = await mkdtemp(path.join(os.tmpdir(), 'kiln-bench-docx-'));
    const docx = await makeDocx(dir, 10);
    const bytes = await readFile(docx);
    const receiver = await new CallbackReceiver().start();
    const stack = new BenchStack(ctx, 'document');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    const kilnRuns: number[][] = [];
    const bareRuns: number[][] = [];
    try {
      await stack.startApp('api-gateway', 'gateway');
      await stack.startApp('converter', 'document-converter', { KILN_CONVERTER_ENGINES: 'office' });
      const file = { name: 'report.docx', bytes };
      const contentType = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';
      // Warm-up (not measured): connections, JIT, the page cache of LibreOffice's libraries.
      for (let i = 0; i < 2; i++) {
        const job = await createJob(stack, 'pdf', receiver.url, agent);
        await uploadAndWait(stack, receiver, job.id, file, contentType, agent);
        await bareSoffice(docx);
      }
      for (let r = 0; r < ctx.runs; r++) {
        await quiesce();
        const kiln: number[] = [];
        const bare: number[] = [];
        for (let i = 0; i < jobs; i++) {
          const job = await createJob(stack, 'pdf', receiver.url, agent);
          const clock = await uploadAndWait(stack, receiver, job.id, file, contentType, agent);
          if (clock.arrival.json?.status?.code !== 'completed')
            throw new Error(`the document job ended ${JSON.stringify(clock.arrival.json?.status)}`);
          kiln.push(clock.arrival.epochMs - clock.uploadStart);
          receiver.forget(job.id);
          bare.push(await bareSoffice(docx));
        }
        kilnRuns.push(kiln);
        bareRuns.push(bare);
        progress(
          `document run ${r + 1}/${ctx.runs}: Kiln p50 ${median(kiln).toFixed(0)} ms; bare soffice p50 ${median(bare).toFixed(0)} ms`,
        );
      }
      const kilnP50 = kilnRuns.map(median);
      const bareP50 = bareRuns.map(median);
      emit({
        case: 'document',
        id: 'document.docx-pdf',
        title: `docx (10 pages, ${(bytes.length / 1024).toFixed(0)} KiB) → pdf, end to end, p50 of ${jobs} jobs`,
        kiln: { label: 'Kiln p50: upload start → callback', unit: 'ms', samples: kilnP50 },
        baseline: { label: 'bare soffice --headless --convert-to pdf p50', unit: 'ms', samples: bareP50 },
        ratio: { samples: kilnP50.map((k, i) => k / bareP50[i]), meaning: 'Kiln / bare' },
        target: { on: 'ratio', op: '<=', value: 1.2 },
        notes: [
          'One gateway, one document converter (KILN_CONVERTER_ENGINES=office, KILN_CONVERTER_CONCURRENCY=1); jobs one after another, a bare soffice run (fresh profile, as a script would) after each job; 2 unmeasured warm-up rounds.',
          `Bare command: ${SOFFICE} -env:UserInstallation=file://<fresh dir> --headless --convert-to pdf --outdir <dir> report.docx`,
        ],
        extra: { kiln_ms: kilnRuns, bare_ms: bareRuns },
      });
    } finally {
      agent.destroy();
      await stack.stop();
      await receiver.stop();
      await rm(dir, { recursive: true, force: true });
    }
  },
};
