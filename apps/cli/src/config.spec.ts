import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError, DEFAULT_URL, configFilePath, loadConfig, parseConfigFile, resolveConfig } from './config';

describe('resolveConfig', () => {
  const file = { url: 'http://file:3000', api_key: 'file-key' };
  const env = { KILN_URL: 'http://env:3000/', KILN_API_KEY: 'env-key' };

  it('flags win over the environment, which wins over the file', () => {
    expect(resolveConfig({ flags: { url: 'https://flag.example/', apiKey: 'flag-key' }, env, file })).toEqual({
      url: 'https://flag.example',
      apiKey: 'flag-key',
    });
    expect(resolveConfig({ flags: {}, env, file })).toEqual({ url: 'http://env:3000', apiKey: 'env-key' });
    expect(resolveConfig({ flags: {}, env: {}, file })).toEqual({ url: 'http://file:3000', apiKey: 'file-key' });
  });

  it('each setting is picked on its own, and empty values count as unset', () => {
    expect(
      resolveConfig({
        flags: { apiKey: 'flag-key' },
        env: { KILN_URL: '', KILN_API_KEY: '  ' },
        file: { url: 'http://file:1' },
      }),
    ).toEqual({ url: 'http://file:1', apiKey: 'flag-key' });
  });

  it('falls back to the default URL and no key', () => {
    expect(resolveConfig({ flags: {}, env: {} })).toEqual({ url: DEFAULT_URL, apiKey: undefined });
  });

  it.each([
    ['not a url', /not a URL/],
    ['ftp://host', /must be http or https/],
    ['http://user:secret@host', /must not hold credentials/],
  ])('refuses the URL %j, naming where it came from', (url, message) => {
    expect(() => resolveConfig({ flags: {}, env: { KILN_URL: url } })).toThrow(ConfigError);
    expect(() => resolveConfig({ flags: {}, env: { KILN_URL: url } })).toThrow(/KILN_URL/);
    expect(() => resolveConfig({ flags: {}, env: { KILN_URL: url } })).toThrow(message);
  });
});

describe('config file', () => {
  it('lives under XDG_CONFIG_HOME, else ~/.config, unless --config names it', () => {
    expect(configFilePath(undefined, { XDG_CONFIG_HOME: '/x' }, '/home/u')).toEqual({
      path: '/x/kiln/config.json',
      explicit: false,
    });
    expect(configFilePath(undefined, {}, '/home/u')).toEqual({
      path: '/home/u/.config/kiln/config.json',
      explicit: false,
    });
    expect(configFilePath('/etc/k.json', {}, '/home/u')).toEqual({ path: '/etc/k.json', explicit: true });
  });

  it('parses {"url", "api_key"} and refuses other shapes without echoing values', () => {
    expect(parseConfigFile('{"url":"http://a","api_key":"k"}', 'f')).toEqual({ url: 'http://a', api_key: 'k' });
    expect(() => parseConfigFile('{', 'f')).toThrow(/f is not valid JSON/);
    expect(() => parseConfigFile('[]', 'f')).toThrow(/must hold a JSON object/);
    expect(() => parseConfigFile('{"api_key": 12345678}', 'f')).toThrow(/"api_key" must be a string/);
  });

  describe('loadConfig', () => {
    let dir: string;
    beforeEach(async () => {
      dir = await mkdtemp(path.join(tmpdir(), 'kiln-cli-config-'));
    });
    afterEach(() => rm(dir, { recursive: true, force: true }));

    it('reads the default file when present and ignores it when absent', async () => {
      expect(await loadConfig({}, { XDG_CONFIG_HOME: dir }, dir)).toEqual({ url: DEFAULT_URL, apiKey: undefined });
      await writeFile(path.join(dir, 'c.json'), '{"url":"http://from-file:9","api_key":"secret-key"}');
      expect(await loadConfig({ config: path.join(dir, 'c.json') }, {}, dir)).toEqual({
        url: 'http://from-file:9',
        apiKey: 'secret-key',
      });
    });

    it('an explicit --config that does not exist is an error', async () => {
      await expect(loadConfig({ config: path.join(dir, 'missing.json') }, {}, dir)).rejects.toThrow(
        /cannot read the config file .*missing.json: ENOENT/,
      );
    });
  });
});
