/**
 * The office engine: documents, spreadsheets and presentations through LibreOffice (one resident,
 * hardened office per slot: soffice-instance.ts, office-profile.ts), and PDF pages to PNG/JPEG
 * through poppler (pdf-pages.ts). Probing refuses what LibreOffice should never be handed: zip
 * bombs, password-protected documents and damaged or password-protected PDFs.
 */
import { mkdir, readdir, rename, rm, stat, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { EngineName } from '@kiln/contracts';
import { MediaError } from '../../media-error';
import { RunControl } from '../../run-control';
import { signalMeaning } from '../../tool-exit';
import type {
  ConversionEngine,
  DocumentInfo,
  EngineRequest,
  EngineResult,
  EngineRunContext,
  InputFacts,
  ProbeContext,
} from '../engine';
import { isDocumentInfo } from '../engine';
import { exportFilter, IMPORT_FILTERS } from './office-filters';
import { ensureTemplate } from './office-profile';
import { folderBytes, watchOutput } from './output-watch';
import { isEncryptedOoxml } from './ole2-check';
import { pdfPageCount } from './pdf-probe';
import { renderPages } from './pdf-pages';
import { lastLinesOf } from './process-tree';
import { runTool } from './run-tool';
import { SlotPool } from './slot-pool';
import { SofficeInstance } from './soffice-instance';
import { checkZipContainer } from './zip-check';

export interface OfficeEngineOptions {
  /** Parallel conversions (the converter's concurrency): one LibreOffice profile and office each. */
  slots: number;
  /** A folder for the template profile and the per-slot profiles. */
  profileRoot: string;
  /** Default `soffice` on PATH. */
  sofficePath?: string;
  /** PDF pages rendered when no page is asked for. Default 200. */
  maxPages?: number;
  /** Memory ceiling of each resident LibreOffice (prlimit --data); 0/undefined for none. */
  memoryLimitBytes?: number;
}

const ZIP_FORMATS = new Set(['docx', 'xlsx', 'pptx', 'odt', 'ods', 'odp']);
const OFFICE_KINDS = new Set(['document', 'spreadsheet', 'presentation']);
const DEFAULT_MAX_PAGES = 200;

export class OfficeEngine implements ConversionEngine {
  readonly name: EngineName = 'office';
  private readonly sofficePath: string;
  private readonly maxPages: number;
  private readonly templateDir: string;
  private readonly instances: SofficeInstance[];
  private readonly pool: SlotPool<SofficeInstance>;
  private template: Promise<void> | null = null;

  constructor(private readonly options: OfficeEngineOptions) {
    if (!Number.isInteger(options.slots) || options.slots < 1) throw new Error('OfficeEngine: slots must be ≥ 1');
    this.sofficePath = options.sofficePath ?? 'soffice';
    this.maxPages = options.maxPages ?? DEFAULT_MAX_PAGES;
    this.templateDir = join(options.profileRoot, 'template');
    this.instances = Array.from(
      { length: options.slots },
      (_, i) =>
        new SofficeInstance(
          join(options.profileRoot, `slot-${i}`),
          this.templateDir,
          this.sofficePath,
          options.memoryLimitBytes || undefined,
        ),
    );
    this.pool = new SlotPool(this.instances);
  }

  async probe(inputPath: string, context: ProbeContext): Promise<InputFacts> {
    const size = (await stat(inputPath)).size;
    // An encrypted OOXML file is an OLE2 container that detection cannot name (docx, xlsx or pptx?).
    if (await isEncryptedOoxml(inputPath)) {
      throw new MediaError('unprocessable', 'the document is password-protected (an encrypted Office file)');
    }
    const detected = context.detected;
    if (!detected)
      throw new MediaError('unsupported_media_type', 'the input is not a document, spreadsheet, presentation or PDF');
    if (detected.kind === 'pdf') {
      const pages = await pdfPageCount(inputPath, context.timeoutMs, context.signal);
      return { kind: 'pdf', format: 'pdf', size_bytes: size, pages };
    }
    if (!OFFICE_KINDS.has(detected.kind) || !IMPORT_FILTERS[detected.format]) {
      throw new MediaError('unsupported_media_type', `the office engine does not read ${detected.format} files`);
    }
    if (ZIP_FORMATS.has(detected.format)) await checkZipContainer(inputPath, detected.format);
    return {
      kind: detected.kind as DocumentInfo['kind'],
      format: detected.format,
      size_bytes: size,
      pages: null,
    };
  }

  async convert(request: EngineRequest, context: EngineRunContext): Promise<EngineResult> {
    const facts = request.facts;
    if (!isDocumentInfo(facts))
      throw new MediaError('unsupported_media_type', 'the office engine converts documents and PDFs');
    const control = new RunControl({
      timeoutMs: context.timeoutMs,
      signal: context.signal,
      maxOutputBytes: context.maxOutputBytes,
      maxOutputDescription: context.maxOutputDescription,
      outputPath: request.outputDir,
    });
    const unwatch = watchOutput(request.outputDir, context.maxOutputBytes, control);
    try {
      if (context.signal.aborted) throw control.error('canceled');
      const result =
        facts.kind === 'pdf'
          ? await this.renderPdf(request, facts, context, control)
          : await this.convertDocument(request, facts, control);
      unwatch();
      if (control.reason) throw control.error(control.reason);
      if (context.maxOutputBytes !== undefined && (await folderBytes(request.outputDir)) > context.maxOutputBytes)
        throw control.error('payload_too_large');
      context.onProgress?.(100);
      return result;
    } catch (err: unknown) {
      unwatch();
      await clearFolder(request.outputDir);
      throw err;
    } finally {
      control.dispose();
    }
  }

  /** Stops every resident office. */
  async close(): Promise<void> {
    await Promise.all(this.instances.map((i) => i.stop()));
  }

  private async renderPdf(
    request: EngineRequest,
    facts: DocumentInfo,
    context: EngineRunContext,
    control: RunControl,
  ): Promise<EngineResult> {
    const target = request.target;
    if (target.target !== 'png' && target.target !== 'jpg') {
      throw new MediaError('unsupported_media_type', `a PDF converts to png or jpg pages here, not ${target.target}`);
    }
    const option = (name: string): number | undefined => {
      const v = request.options[name] ?? target.options[name]?.default;
      return typeof v === 'number' ? v : undefined;
    };
    const pages = facts.pages ?? (await pdfPageCount(request.inputPath, context.timeoutMs, context.signal));
    const files = await renderPages(
      request.inputPath,
      {
        format: target.target,
        dpi: option('dpi') ?? 150,
        quality: option('quality') ?? 85,
        page: option('page') ?? null,
        pages,
        maxPages: this.maxPages,
        outputDir: request.outputDir,
        baseName: request.baseName,
        contentType: target.content_type,
        memoryLimitBytes: context.memoryLimitBytes || this.options.memoryLimitBytes || undefined,
      },
      control,
    );
    return { files };
  }

  private async convertDocument(
    request: EngineRequest,
    facts: DocumentInfo,
    control: RunControl,
  ): Promise<EngineResult> {
    const target = request.target;
    const filter = exportFilter(target.target, facts.kind);
    if (!filter) {
      throw new MediaError('unsupported_media_type', `LibreOffice does not make ${target.target} from a ${facts.kind}`);
    }
    this.template ??= ensureTemplate(this.templateDir, this.sofficePath).catch((err: unknown) => {
      this.template = null;
      throw err;
    });
    await this.template;
    let slot: SofficeInstance;
    try {
      slot = await this.pool.acquire(controlSignal(control));
    } catch {
      throw control.error(control.reason ?? 'canceled');
    } finally {
      control.detach();
    }
    try {
      if (control.reason) throw control.error(control.reason);
      // LibreOffice names its output after the input, and reads the format from the name too.
      const work = join(slot.slotDir, 'work');
      await rm(work, { recursive: true, force: true });
      await mkdir(work, { recursive: true });
      const staged = join(work, `input.${facts.format}`);
      await symlink(request.inputPath, staged);
      await slot.ensure();
      if (control.reason) throw control.error(control.reason);
      const before = slot.residentOutput().length;
      const client = await runTool(
        this.sofficePath,
        slot.clientArgs(staged, request.outputDir, `${target.extension}:${filter}`, IMPORT_FILTERS[facts.format]),
        control,
      ).catch(async (err: unknown) => {
        // Stopped (timeout, cancel, cap): the conversion runs in the resident, which goes too.
        await slot.stop();
        throw err;
      });
      const said = lastLinesOf(slot.residentOutput().slice(before) + client.output);
      const made = (await readdir(request.outputDir)).filter((n) => n.endsWith(`.${target.extension}`));
      // A resident that died before the client reached it is no failure: the client then converts
      // on its own (a cold start). Only a missing output is blamed on the death.
      const death = await slot.death();
      if (death) await slot.stop();
      if (made.length !== 1 || client.code !== 0) {
        await clearFolder(request.outputDir);
        if (death) {
          const how = death.signal ? signalMeaning(death.signal) : `exited with code ${death.code}`;
          throw new MediaError('infrastructure', `LibreOffice ${how} during the conversion`, said, { fault: 'signal' });
        }
        if (client.signal) {
          await slot.stop();
          throw new MediaError('infrastructure', `soffice ${signalMeaning(client.signal)}`, said, { fault: 'signal' });
        }
        throw new MediaError(
          'unprocessable',
          `LibreOffice could not convert the ${facts.format} document to ${target.target} (it is damaged, password-protected or not really ${facts.format})`,
          said,
        );
      }
      const name = `${request.baseName}.${target.extension}`;
      const path = join(request.outputDir, name);
      if (made[0] !== name) await rename(join(request.outputDir, made[0]), path);
      if ((await stat(path)).size === 0) {
        throw new MediaError('unprocessable', 'LibreOffice wrote an empty output', said);
      }
      return { files: [{ path, name, contentType: target.content_type }] };
    } finally {
      await rm(join(slot.slotDir, 'work'), { recursive: true, force: true }).catch(() => undefined);
      this.pool.release(slot);
    }
  }
}

/** An AbortSignal that aborts when the control stops (timeout or cancel while waiting for a slot). */
function controlSignal(control: RunControl): AbortSignal {
  const ac = new AbortController();
  control.attach(() => ac.abort());
  return ac.signal;
}

async function clearFolder(dir: string): Promise<void> {
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    await rm(join(dir, name), { recursive: true, force: true }).catch(() => undefined);
  }
}
