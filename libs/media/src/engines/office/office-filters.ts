/**
 * LibreOffice's filter names: the import filter for each input format (input-kind.ts names), given
 * explicitly so LibreOffice never guesses (a damaged docx would otherwise open as plain text), and
 * the export filter for each target and kind of document.
 */
import type { InputKind } from '@kiln/contracts';

/** `--infilter` per input format. CSV and TSV: separator, quote `"`, UTF-8 (76), from line 1. */
export const IMPORT_FILTERS: Readonly<Record<string, string>> = {
  docx: 'MS Word 2007 XML',
  doc: 'MS Word 97',
  odt: 'writer8',
  rtf: 'Rich Text Format',
  txt: 'Text (encoded):UTF8',
  html: 'HTML (StarWriter)',
  xlsx: 'Calc MS Excel 2007 XML',
  xls: 'MS Excel 97',
  ods: 'calc8',
  csv: 'CSV:44,34,76,1',
  tsv: 'CSV:9,34,76,1',
  pptx: 'Impress MS PowerPoint 2007 XML',
  ppt: 'MS PowerPoint 97',
  odp: 'impress8',
};

type OfficeKind = Extract<InputKind, 'document' | 'spreadsheet' | 'presentation'>;

/**
 * `--convert-to <ext>:<filter>` per target and input kind. CSV out: comma, quote `"`, UTF-8, from
 * line 1, text quoted only where needed (token 7 false), cells as shown (dates stay dates, token 9).
 */
const EXPORT_FILTERS: Readonly<Record<string, Partial<Record<OfficeKind, string>>>> = {
  pdf: { document: 'writer_pdf_Export', spreadsheet: 'calc_pdf_Export', presentation: 'impress_pdf_Export' },
  docx: { document: 'MS Word 2007 XML' },
  odt: { document: 'writer8' },
  xlsx: { spreadsheet: 'Calc MS Excel 2007 XML' },
  ods: { spreadsheet: 'calc8' },
  csv: { spreadsheet: 'Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,true,false,false' },
  pptx: { presentation: 'Impress MS PowerPoint 2007 XML' },
  odp: { presentation: 'impress8' },
};

export function exportFilter(target: string, kind: InputKind): string | undefined {
  return EXPORT_FILTERS[target]?.[kind as OfficeKind];
}
