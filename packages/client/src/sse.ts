/** One Server-Sent Events message (https://html.spec.whatwg.org/multipage/server-sent-events.html). */
export interface SseMessage {
  /** `event:` field; "message" when absent. */
  event: string;
  data: string;
  /** `id:` field of this message, if it had one. */
  id?: string;
}

/**
 * Incremental SSE decoder: feed text chunks as they arrive, get complete messages back. Keeps
 * the last event id and the server's `retry:` hint as the spec asks.
 */
export class SseParser {
  lastEventId: string | undefined;
  retryMs: number | undefined;
  #buffer = '';
  #data: string[] = [];
  #event = '';
  #id: string | undefined;
  #sawField = false;

  push(chunk: string): SseMessage[] {
    this.#buffer += chunk;
    const out: SseMessage[] = [];
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.#buffer);
      if (!match) break;
      // A lone \r at the very end may be the first half of \r\n: wait for more input.
      if (match[0] === '\r' && match.index === this.#buffer.length - 1) break;
      const line = this.#buffer.slice(0, match.index);
      this.#buffer = this.#buffer.slice(match.index + match[0].length);
      const msg = this.#line(line);
      if (msg) out.push(msg);
    }
    return out;
  }

  #line(line: string): SseMessage | undefined {
    if (line === '') return this.#dispatch();
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'data':
        this.#data.push(value);
        this.#sawField = true;
        break;
      case 'event':
        this.#event = value;
        this.#sawField = true;
        break;
      case 'id':
        if (!value.includes('\0')) {
          this.#id = value;
          this.lastEventId = value;
        }
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.retryMs = Number(value);
        break;
      default:
        break;
    }
    return undefined;
  }

  #dispatch(): SseMessage | undefined {
    const hadData = this.#data.length > 0;
    const msg: SseMessage = { event: this.#event || 'message', data: this.#data.join('\n') };
    if (this.#id !== undefined) msg.id = this.#id;
    this.#data = [];
    this.#event = '';
    this.#id = undefined;
    const saw = this.#sawField;
    this.#sawField = false;
    return hadData && saw ? msg : undefined;
  }
}
