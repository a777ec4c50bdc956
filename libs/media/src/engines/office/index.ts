/** The office engine: LibreOffice for documents, poppler for PDF pages. */
export { OfficeEngine, type OfficeEngineOptions } from './office-engine';
