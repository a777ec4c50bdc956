// The pure parts of the FetchHandler: how a fetch error is classified, Content-Length parsing, and the
// name a fetched file gets (Content-Disposition, the URL, sanitising).

import { OutboundRefusal } from '@kiln/outbound-http';
import { fetchedFilename, filenameFromContentDisposition, filenameFromUrl, safeFilename } from '../filename';
import { classifyFetchError, parseContentLength } from './fetch.handler';

describe('classifyFetchError', () => {
  it('a refused URL or redirect fails the input at once: invalid_input, or download_failed for a redirect without a Location', () => {
    expect(
      classifyFetchError(new OutboundRefusal('too_many_redirects', 'more than 5 redirects'), 'a.example.com'),
    ).toMatchObject({ code: 'invalid_input', transient: false, message: 'more than 5 redirects' });
    expect(classifyFetchError(new OutboundRefusal('no_location', 'x'), 'a.example.com')).toMatchObject({
      code: 'download_failed',
      transient: false,
    });
  });
});

describe('parseContentLength', () => {
  it.each([
    [undefined, undefined],
    ['0', 0],
    ['3145728', 3145728],
    ['42, 42', 42],
    ['42, 43', undefined],
    ['-1', undefined],
    ['1e3', undefined],
    ['abc', undefined],
    ['99999999999999999', undefined],
  ])('%s → %s', (header, expected) => {
    expect(parseContentLength(header)).toBe(expected);
  });
});

describe('fetched file names', () => {
  it('reads Content-Disposition (filename* wins, quoted and token forms)', () => {
    expect(filenameFromContentDisposition(`attachment; filename="a b.mp4"`)).toBe('a b.mp4');
    expect(filenameFromContentDisposition('attachment; filename=plain.mov')).toBe('plain.mov');
    expect(filenameFromContentDisposition(`attachment; filename="x.mp4"; filename*=UTF-8''%E2%82%AC%20rates.mp4`)).toBe(
      '€ rates.mp4',
    );
    expect(filenameFromContentDisposition(`attachment; filename*=iso-8859-1'en'%E9t%E9.wav`)).toBe('été.wav');
    expect(filenameFromContentDisposition(`attachment; filename="q\\"uote.mp4"`)).toBe('q"uote.mp4');
    expect(filenameFromContentDisposition(`attachment; filename*=UTF-8''%E2%ZZ; filename="fallback.mp4"`)).toBe(
      'fallback.mp4',
    );
    expect(filenameFromContentDisposition('inline')).toBeUndefined();
    expect(filenameFromContentDisposition(undefined)).toBeUndefined();
  });

  it('takes the last path segment of a URL', () => {
    expect(filenameFromUrl('https://x.example/a/b/c%20d.mp4?sig=1')).toBe('c d.mp4');
    expect(filenameFromUrl('https://x.example/a/b/')).toBe('b');
    expect(filenameFromUrl('https://x.example/')).toBeUndefined();
    expect(filenameFromUrl('https://x.example/%E2%ZZ.mp4')).toBe('%E2%ZZ.mp4');
  });

  it('sanitises: no slashes or control characters, at most 255 bytes, extension kept', () => {
    expect(safeFilename('../../etc/passwd')).toBe('passwd');
    expect(safeFilename('a\\b\\c.txt')).toBe('c.txt');
    expect(safeFilename('bad\u0000\u001fname\u007f.mp4')).toBe('badname.mp4');
    expect(safeFilename('..')).toBe('file');
    const long = safeFilename(`${'n'.repeat(300)}.mp4`);
    expect(long).toHaveLength(255);
    expect(long.endsWith('.mp4')).toBe(true);
    expect(fetchedFilename(null, "attachment; filename*=UTF-8''a%0D%0Ab%00.mp4", new URL('https://x.example/'))).toBe(
      'ab.mp4',
    );
  });

  it('prefers the given name, then Content-Disposition, then the URL, then "download"', () => {
    const url = new URL('https://x.example/path/from-url.bin');
    expect(fetchedFilename('given.mp4', 'attachment; filename="cd.mp4"', url)).toBe('given.mp4');
    expect(fetchedFilename(null, 'attachment; filename="../cd.mp4"', url)).toBe('cd.mp4');
    expect(fetchedFilename(null, undefined, url)).toBe('from-url.bin');
    expect(fetchedFilename('..', 'attachment; filename="/"', new URL('https://x.example/'))).toBe('download');
  });
});
