// A multipart/form-data body built as a stream with its exact length known beforehand: the fields,
// then the file read from disk (never whole in memory), so S3's POST form gets a Content-Length.
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';

/** Quotes a name or filename the way browsers do (WHATWG: `"` → %22, CR → %0D, LF → %0A). */
function quoted(value: string): string {
  return `"${value.replace(/"/g, '%22').replace(/\r/g, '%0D').replace(/\n/g, '%0A')}"`;
}

export interface MultipartFormBody {
  body: Readable;
  /** Exact byte length of `body`. */
  length: number;
  /** `multipart/form-data; boundary=…` */
  contentType: string;
}

/**
 * `fields` in their order, then `file` as the LAST part (S3 ignores anything after the file).
 * `fileBody` must yield exactly `file.size` bytes.
 */
export function multipartFormBody(
  fields: Record<string, string>,
  file: { field: string; filename: string; contentType: string; size: number },
  fileBody: Readable,
): MultipartFormBody {
  const boundary = `----kiln-${randomBytes(16).toString('hex')}`;
  const head = Buffer.from(
    [
      ...Object.entries(fields).map(
        ([name, value]) => `--${boundary}\r\nContent-Disposition: form-data; name=${quoted(name)}\r\n\r\n${value}\r\n`,
      ),
      `--${boundary}\r\nContent-Disposition: form-data; name=${quoted(file.field)}; filename=${quoted(file.filename)}\r\n`,
      `Content-Type: ${file.contentType.replace(/[\r\n]/g, '')}\r\n\r\n`,
    ].join(''),
    'utf8',
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`, 'utf8');
  async function* parts() {
    yield head;
    for await (const piece of fileBody) yield piece as Buffer;
    yield tail;
  }
  return {
    body: Readable.from(parts(), { objectMode: false }),
    length: head.length + file.size + tail.length,
    contentType: `multipart/form-data; boundary=${boundary}`,
  };
}
