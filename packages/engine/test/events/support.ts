import http from 'node:http';
import { SseParser, type SseMessage } from '@vireo/client';

/** A raw Server-Sent Events connection: collects messages and comment lines as they arrive. */
export interface EventStreamReader {
  status: number;
  headers: http.IncomingHttpHeaders;
  messages: SseMessage[];
  /** Comment lines (`:` first), e.g. heartbeats, which the parser drops. */
  comments: string[];
  /** The parser, for its `lastEventId`. */
  parser: SseParser;
  ended: Promise<void>;
  close(): void;
  res: http.IncomingMessage;
  req: http.ClientRequest;
}

/**
 * Opens `GET base+path` as an event stream with `headers` and resolves once the answer's head is
 * in, whatever its status (check `status`); the body is read on as it comes.
 */
export function openEventStream(
  base: string,
  path: string,
  headers: Record<string, string>,
): Promise<EventStreamReader> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      `${base}${path}`,
      { headers: { accept: 'text/event-stream', ...headers } },
      (res) => {
        const parser = new SseParser();
        const s: EventStreamReader = {
          status: res.statusCode ?? 0,
          headers: res.headers,
          messages: [],
          comments: [],
          parser,
          ended: new Promise((r) => res.once('close', () => r())),
          close: () => req.destroy(),
          res,
          req,
        };
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          for (const line of chunk.split('\n')) if (line.startsWith(':')) s.comments.push(line);
          s.messages.push(...parser.push(chunk));
        });
        res.on('error', () => {});
        resolve(s);
      },
    );
    req.on('error', reject);
  });
}
