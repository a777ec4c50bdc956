/**
 * The engine port: one interface for every program that converts (ffmpeg, libvips, LibreOffice).
 * The converter's handler speaks only to this: it probes the input, stores what the probe found,
 * asks the engine to convert into an empty folder, and stores every file the engine reports. A
 * failure is a MediaError whose code the handler maps once (media-error.ts): `unprocessable` (the
 * input's fault, with a message for the user), `unsupported_media_type`, `payload_too_large`,
 * `timeout`, `canceled`, `infrastructure` (retried), `internal`.
 */
import type { ConversionOptions, EngineName, InputKind, TargetSpec } from '@kiln/contracts';
import type { MediaInfo } from '../media-info';

/** What a probe found out about a document (LibreOffice input, or a PDF). */
export interface DocumentInfo {
  kind: Extract<InputKind, 'document' | 'spreadsheet' | 'presentation' | 'pdf'>;
  /** input-kind.ts's name: docx, xlsx, pdf, html, csv… */
  format: string;
  size_bytes: number;
  /** Known for a PDF (pdfinfo); null for office documents. */
  pages: number | null;
}

/** What an engine's probe returns: stored on the input (`media` in the API) and handed to `convert`. */
export type InputFacts = MediaInfo | DocumentInfo;

export interface ProbeContext {
  signal?: AbortSignal;
  timeoutMs: number;
  /** The kind and format the bytes were detected as (input-kind.ts), when known. */
  detected?: { kind: InputKind; format: string } | null;
}

export interface EngineRequest {
  target: TargetSpec;
  /** Validated against the target (catalog.ts validateOptions); defaults not yet applied. */
  options: ConversionOptions;
  /** Absolute path of the input file (named `input`, without extension). */
  inputPath: string;
  /** Absolute path of an empty folder the engine writes its output files into (and nothing else). */
  outputDir: string;
  /** Base of the output file names, e.g. `report` → `report.pdf`; already safe for a file name. */
  baseName: string;
  /** The probe's answer for this input. */
  facts: InputFacts;
}

export interface EngineRunContext {
  /** Aborted on cancel, shutdown or a lost claim: the engine stops its work and rejects MediaError('canceled'). */
  signal: AbortSignal;
  /** Wall-clock budget for the whole conversion; past it MediaError('timeout'). */
  timeoutMs: number;
  /** Cap on the bytes of all output files together; past it MediaError('payload_too_large'). */
  maxOutputBytes?: number;
  /** Names that cap in the error message. */
  maxOutputDescription?: string;
  /** Memory ceiling for a child process (prlimit), 0/undefined for none. */
  memoryLimitBytes?: number;
  /** Whole percents 0–100, never decreasing. */
  onProgress?: (percent: number) => void;
}

/** One file a conversion made. */
export interface OutputFile {
  /** Absolute path inside `outputDir`. */
  path: string;
  /** Its name in the job's output, relative and `/`-separated (`360p/segment_001.ts`, `report-page-2.png`). */
  name: string;
  contentType: string;
}

export interface EngineResult {
  /** At least one; the first is the output (the one `uri` and the download route give), the rest its companions. */
  files: OutputFile[];
}

export interface ConversionEngine {
  readonly name: EngineName;
  /** What the input is; MediaError('unprocessable' | 'unsupported_media_type') when this engine cannot read it. */
  probe(inputPath: string, context: ProbeContext): Promise<InputFacts>;
  /** Converts; on any failure the files written so far are removed. */
  convert(request: EngineRequest, context: EngineRunContext): Promise<EngineResult>;
  /** Stops anything resident (a warm LibreOffice); called once at shutdown. */
  close?(): Promise<void>;
}

export function isDocumentInfo(facts: InputFacts): facts is DocumentInfo {
  return (
    facts.kind === 'document' || facts.kind === 'spreadsheet' || facts.kind === 'presentation' || facts.kind === 'pdf'
  );
}
