import { convertArgs, helpText, parseConversionOptions, parseInvocation, UsageError } from './args';

describe('parseInvocation', () => {
  it('finds the command after global options that take a value', () => {
    const inv = parseInvocation(['--url', 'http://h:1', '--json', 'status', 'abc']);
    expect(inv).toMatchObject({ command: 'status', help: false, positionals: ['abc'] });
    expect(inv.values).toMatchObject({ url: 'http://h:1', json: true });
  });

  it('accepts options before, between and after the files of convert', () => {
    const inv = parseInvocation([
      'convert',
      '-t',
      'mp3',
      'a.wav',
      '--option',
      'audio_bitrate=192',
      'b.wav',
      '--option=sample_rate=44100',
      '--no-wait',
    ]);
    expect(inv.positionals).toEqual(['a.wav', 'b.wav']);
    const args = convertArgs(inv);
    expect(args).toMatchObject({
      files: ['a.wav', 'b.wav'],
      target: 'mp3',
      options: { audio_bitrate: 192, sample_rate: 44100 },
      wait: false,
      parallel: 3,
      retries: 5,
    });
  });

  it('parses sizes and counts of the upload options', () => {
    const args = convertArgs(
      parseInvocation([
        'convert',
        'a',
        '--to',
        'MP4',
        '--chunk-size',
        '16MiB',
        '--limit-rate',
        '512k',
        '--parallel',
        '4',
        '--retries',
        '0',
      ]),
    );
    expect(args).toMatchObject({
      target: 'mp4',
      chunkSize: 16 * 1024 * 1024,
      limitRate: 512 * 1024,
      parallel: 4,
      retries: 0,
    });
  });

  it('answers help for --help, -h, help <command>, and no command at all', () => {
    expect(parseInvocation([])).toMatchObject({ command: undefined, help: true });
    expect(parseInvocation(['convert', '--help'])).toMatchObject({ command: 'convert', help: true });
    expect(parseInvocation(['-h', 'jobs'])).toMatchObject({ command: 'jobs', help: true });
    expect(parseInvocation(['help', 'download'])).toMatchObject({ command: 'download', help: true });
    // help skips the argument checks: `kiln status --help` needs no id
    expect(parseInvocation(['status', '--help'])).toMatchObject({ command: 'status', help: true });
  });

  it.each([
    [['frobnicate'], /unknown command "frobnicate"/],
    [['status'], /kiln status takes <job id>/],
    [['status', 'a', 'b'], /kiln status takes <job id>/],
    [['jobs', '--bogus'], /Unknown option '--bogus'.*kiln jobs --help/],
    [['convert'], /kiln convert takes <file…>/],
    [['jobs', 'extra'], /kiln jobs takes no arguments/],
    [['help', 'nope'], /unknown command "nope"/],
  ])('refuses %j', (argv, message) => {
    expect(() => parseInvocation(argv)).toThrow(UsageError);
    expect(() => parseInvocation(argv)).toThrow(message);
  });

  it('refuses convert without --to and bad numbers or sizes', () => {
    expect(() => convertArgs(parseInvocation(['convert', 'a.wav']))).toThrow(/needs --to/);
    expect(() => convertArgs(parseInvocation(['convert', 'a', '--to', 'mp3', '--parallel', '0']))).toThrow(
      /--parallel must be a whole number from 1 to 16/,
    );
    expect(() => convertArgs(parseInvocation(['convert', 'a', '--to', 'mp3', '--chunk-size', 'big']))).toThrow(
      /--chunk-size must be a size/,
    );
  });
});

describe('parseConversionOptions', () => {
  it('turns numbers into numbers and keeps everything else a string for the API to judge', () => {
    expect(parseConversionOptions(['audio_bitrate=192', 'fps=29.97', 'x=abc', 'neg=-1', 'empty=', 'eq=a=b'])).toEqual({
      audio_bitrate: 192,
      fps: 29.97,
      x: 'abc',
      neg: -1,
      empty: '',
      eq: 'a=b',
    });
  });

  it('the last of a repeated key wins', () => {
    expect(parseConversionOptions(['crf=20', 'crf=30'])).toEqual({ crf: 30 });
  });

  it.each(['novalue', '=5', ' =5'])('refuses %j', (pair) => {
    expect(() => parseConversionOptions([pair])).toThrow(/--option takes key=value/);
  });
});

describe('helpText', () => {
  it('lists every command and the global options', () => {
    const text = helpText();
    for (const c of ['convert', 'jobs', 'status', 'cancel', 'formats', 'download']) expect(text).toContain(`  ${c}`);
    expect(text).toMatch(/--api-key <key>/);
  });

  it("shows a command's own options", () => {
    const text = helpText('convert');
    expect(text).toMatch(/^Usage: kiln convert <file…> --to <target> \[options\]/);
    expect(text).toMatch(/-t, --to <target>/);
    expect(text).toMatch(/--no-wait/);
    expect(text).toMatch(/--json/);
  });
});
