/**
 * A failure of sharp/libvips as a MediaError. libvips reports a bad input with lines such as
 * "VipsJpeg: premature end of JPEG image\nvips2png: unable to write to target target": the user
 * gets the cause without the operation names and the follow-on lines. A full disk or an I/O error
 * is the converter's fault (tool-exit.ts decides which), retried, never blamed on the input.
 */
import { MediaError } from '../../media-error';
import { toolFault } from '../../tool-exit';

/** Follow-on lines that only say an earlier error stopped the operation. */
const FOLLOW_ON = /unable to write to (?:target|file|memory)|unable to call|^\s*$/i;
/** "VipsJpeg: ", "vips2png: ", "gifload: " — the libvips operation that spoke. */
const SPEAKER = /^[A-Za-z0-9_]+: /;

export function sharpFailure(err: unknown, stage: 'reading' | 'converting'): MediaError {
  if (err instanceof MediaError) return err;
  const raw = err instanceof Error ? err.message : String(err);
  const code = (err as NodeJS.ErrnoException | undefined)?.code;

  if (code === 'ENOENT' || /^Input file is missing/.test(raw))
    return new MediaError('internal', 'the input file is missing on the converter', undefined, { cause: err });

  // The checks on the machine run on the raw text; the tool name is only used for their wording.
  const fault = toolFault('ffmpeg', { signal: null, exitCode: null, stderr: `${raw} ${code ?? ''}` });
  if (fault)
    return new MediaError('infrastructure', fault.message.replace(/^ffmpeg/, 'libvips'), undefined, {
      cause: err,
      fault: fault.fault,
    });

  if (/unsupported image format/i.test(raw))
    return new MediaError(
      'unsupported_media_type',
      'the input is not an image libvips reads (PNG, JPEG, WebP, GIF, TIFF or AVIF)',
      undefined,
      { cause: err },
    );
  if (/exceeds pixel limit/i.test(raw))
    return new MediaError(
      'unprocessable',
      'pixel limit exceeded: the picture has more pixels than KILN_MAX_PIXELS allows',
      undefined,
      {
        cause: err,
        limit: 'pixels',
      },
    );
  return new MediaError(
    'unprocessable',
    `the image could not be ${stage === 'reading' ? 'read' : 'converted'}: ${cleanMessage(raw)}`,
    undefined,
    {
      cause: err,
    },
  );
}

/** The distinct causes in libvips' message, without operation names; one line. */
export function cleanMessage(raw: string): string {
  const lines = raw
    .split('\n')
    .filter((line) => !FOLLOW_ON.test(line))
    .map((line) => line.replace(SPEAKER, '').trim());
  const distinct = [...new Set(lines)];
  const text = distinct.join('; ') || 'libvips gave no reason';
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}
