// Server-Sent Events (WHATWG HTML §9.2) parsed from text as it arrives, in any slicing: the one
// parser of `GET /v1/jobs/{id}/events` streams, used by the CLI and the tests.

export interface SseEvent {
  event: string;
  data: string;
  id?: string;
}

export class SseParser {
  private buffer = '';
  private event = '';
  private data: string[] = [];
  private id: string | undefined;
  private hasData = false;

  /** Feeds decoded text; answers the events completed by it. */
  push(text: string): SseEvent[] {
    this.buffer += text;
    const events: SseEvent[] = [];
    for (;;) {
      const cut = this.buffer.search(/\r\n|\r|\n/);
      if (cut < 0) break;
      // A lone CR at the end may be the first half of CRLF: wait for the next piece.
      if (this.buffer[cut] === '\r' && cut === this.buffer.length - 1) break;
      const line = this.buffer.slice(0, cut);
      this.buffer = this.buffer.slice(cut + (this.buffer.startsWith('\r\n', cut) ? 2 : 1));
      const e = this.line(line);
      if (e) events.push(e);
    }
    return events;
  }

  private line(line: string): SseEvent | undefined {
    if (line === '') {
      const e = this.hasData
        ? {
            event: this.event || 'message',
            data: this.data.join('\n'),
            ...(this.id !== undefined ? { id: this.id } : {}),
          }
        : undefined;
      this.event = '';
      this.data = [];
      this.hasData = false;
      return e;
    }
    if (line.startsWith(':')) return undefined; // comment (keep-alive)
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.event = value;
    else if (field === 'data') {
      this.data.push(value);
      this.hasData = true;
    } else if (field === 'id' && !value.includes('\0')) this.id = value;
    return undefined;
  }
}
