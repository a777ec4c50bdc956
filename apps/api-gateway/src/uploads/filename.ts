/** A file name safe to use as the last part of an object key and in Content-Disposition. */
export function safeFilename(name: string | undefined | null, fallback = 'file'): string {
  let base = (name ?? '').split(/[\\/]/).pop() ?? '';
  // eslint-disable-next-line no-control-regex
  base = base.replace(/[\u0000-\u001f\u007f]/g, '').trim();
  if (base === '.' || base === '..') base = '';
  if (base.length > 200) {
    const dot = base.lastIndexOf('.');
    const ext = dot > 0 && base.length - dot <= 10 ? base.slice(dot) : '';
    base = base.slice(0, 200 - ext.length) + ext;
  }
  return base || fallback;
}
