import { SseParser } from './sse-parser';

describe('SseParser', () => {
  it('parses the events of a job stream', () => {
    const p = new SseParser();
    const events = p.push(
      'event: status\ndata: {"status":"queued","progress":0}\n\n: keep-alive\n\nevent: job\ndata: {"id":"j"}\n\n',
    );
    expect(events).toEqual([
      { event: 'status', data: '{"status":"queued","progress":0}' },
      { event: 'job', data: '{"id":"j"}' },
    ]);
  });

  it('gives the same events however the text is sliced, with LF, CRLF or CR line ends', () => {
    const text = 'event: status\r\ndata: a\r\n\r\nid: 7\rdata: b\rdata: c\r\rdata:d\n\n';
    const whole = new SseParser().push(text);
    expect(whole).toEqual([
      { event: 'status', data: 'a' },
      { event: 'message', data: 'b\nc', id: '7' },
      { event: 'message', data: 'd', id: '7' },
    ]);
    for (let size = 1; size <= 7; size++) {
      const p = new SseParser();
      const got = [];
      for (let i = 0; i < text.length; i += size) got.push(...p.push(text.slice(i, i + size)));
      expect(got).toEqual(whole);
    }
  });

  it('dispatches nothing for an event without data, and nothing before its blank line', () => {
    const p = new SseParser();
    expect(p.push('event: status\n\n')).toEqual([]);
    expect(p.push('event: job\ndata: {}\n')).toEqual([]);
    expect(p.push('\n')).toEqual([{ event: 'job', data: '{}' }]);
  });
});
