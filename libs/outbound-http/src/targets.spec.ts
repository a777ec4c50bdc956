import { MAX_REDIRECTS, OutboundRefusal, checkRedirect, checkTarget } from './targets';

describe('checkRedirect', () => {
  it('resolves relative and absolute locations', () => {
    expect(checkRedirect('https://cdn.example.com/a/b?x=1', '/c/d', 1).href).toBe('https://cdn.example.com/c/d');
    expect(checkRedirect('https://cdn.example.com/a/b', 'e.mp4', 1).href).toBe('https://cdn.example.com/a/e.mp4');
    expect(checkRedirect('https://cdn.example.com/a', '//other.example.org/f', 1).href).toBe(
      'https://other.example.org/f',
    );
    expect(checkRedirect('https://cdn.example.com/a', 'http://plain.example.org/g', MAX_REDIRECTS).href).toBe(
      'http://plain.example.org/g',
    );
  });

  it.each([
    ['http://127.0.0.1/x', /address 127\.0\.0\.1 is private/],
    ['http://10.1.2.3:8080/x', /address 10\.1\.2\.3 is private/],
    ['http://169.254.169.254/latest/meta-data/', /169\.254\.169\.254 is private/],
    ['http://[::1]/x', /address ::1 is private/],
    ['http://[::ffff:127.0.0.1]/x', /is private/],
    ['http://0x7f000001/x', /address 127\.0\.0\.1 is private/],
  ])('refuses a redirect from a public host to %s', (location, message) => {
    expect(() => checkRedirect('https://public.example.com/file', location, 1)).toThrow(message);
    expect(() => checkRedirect('https://public.example.com/file', location, 1, true)).not.toThrow();
  });

  it.each([
    'ftp://example.com/f',
    'file:///etc/passwd',
    'gopher://example.com/',
    'data:text/plain,hi',
    'javascript:alert(1)',
  ])('refuses the scheme of %s', (location) => {
    expect(() => checkRedirect('https://public.example.com/file', location, 1, true)).toThrow(/unsupported scheme/);
  });

  it('refuses hop 6 and a missing Location', () => {
    expect(() => checkRedirect('https://a.example.com/', '/next', MAX_REDIRECTS + 1, true)).toThrow(
      'more than 5 redirects',
    );
    try {
      checkRedirect('https://a.example.com/', undefined, 1, true);
      throw new Error('expected an OutboundRefusal');
    } catch (err: unknown) {
      expect(err).toBeInstanceOf(OutboundRefusal);
      expect(err).toMatchObject({
        reason: 'no_location',
        message: 'a.example.com answered a redirect without a Location',
      });
    }
  });

  it('checkTarget refuses bad URLs and schemes for the first hop too', () => {
    expect(() => checkTarget('not a url', true)).toThrow(/not a valid URL/);
    expect(() => checkTarget('ftp://example.com/x', true)).toThrow(/scheme ftp:/);
    expect(checkTarget('http://localhost/x', false).hostname).toBe('localhost'); // names are checked at connect time
  });
});
