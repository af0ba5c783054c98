import type { IncomingMessage } from 'node:http';
import { request } from 'node:https';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { TRANSFER_HTTP_PREFIX } from '@vireo/agent-protocol';

/** The engine's client identity towards agents and the CA their certificates chain to (PEM). */
export type AgentTls = () => { ca: string; cert: string; key: string };

export interface AgentEndpoint {
  address: string;
  port: number;
}

/** What the agent answered to a data request. */
export interface AgentDataReply {
  status: number;
  body: Record<string, unknown>;
}

/** Errors of the data channel itself (agent unreachable, connection lost). */
export class AgentChannelError extends Error {
  override readonly name = 'AgentChannelError';
}

function readJson(res: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (c: Buffer) => {
      size += c.length;
      // Control answers are tiny; anything larger is not one.
      if (size <= 64 * 1024) chunks.push(c);
    });
    res.on('error', reject);
    res.on('end', () => {
      try {
        resolve(
          chunks.length
            ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>)
            : {},
        );
      } catch {
        resolve({});
      }
    });
  });
}

/**
 * Streams `body` to the agent's data endpoint (`PUT`), over the engine's mTLS identity plus the
 * transfer's bearer secret. Backpressure is end to end: `pipeline` only reads from the client as
 * fast as the agent's socket drains, and the agent only reads as fast as its disk writes.
 * `onBytes` sees every chunk that was handed to the agent (progress, not durability).
 */
export async function putToAgent(options: {
  endpoint: AgentEndpoint;
  tls: AgentTls;
  transferId: string;
  secret: string;
  contentRange: string;
  contentLength: number;
  body: Readable;
  onBytes?: (n: number) => void;
}): Promise<AgentDataReply> {
  const tls = options.tls();
  const req = request({
    host: options.endpoint.address,
    port: options.endpoint.port,
    method: 'PUT',
    path: TRANSFER_HTTP_PREFIX + options.transferId,
    ca: tls.ca,
    cert: tls.cert,
    key: tls.key,
    minVersion: 'TLSv1.3',
    headers: {
      authorization: `Bearer ${options.secret}`,
      'content-type': 'application/octet-stream',
      'content-range': options.contentRange,
      'content-length': String(options.contentLength),
    },
  });
  const replied = new Promise<IncomingMessage>((resolve, reject) => {
    req.once('response', resolve);
    req.once('error', reject);
  });
  // A reply that comes early (416, 403) must not be lost while the body is still flowing.
  replied.catch(() => undefined);
  let forwarded = 0;
  options.body.on('data', (c: Buffer) => {
    forwarded += c.length;
    options.onBytes?.(c.length);
  });
  try {
    await pipeline(options.body, req);
    // A body that ended short of its announced length must not leave the agent waiting for the
    // rest: end its request as broken, so it keeps what arrived and the client resumes from there.
    if (forwarded !== options.contentLength) {
      throw new AgentChannelError(
        `the request body ended after ${forwarded} of ${options.contentLength} bytes`,
      );
    }
  } catch (err) {
    // The client went away (or the agent did): end the agent side too; what arrived counts.
    req.destroy();
    const early = await Promise.race([
      replied,
      new Promise<undefined>((r) => setTimeout(r, 50, undefined)),
    ]).catch(() => undefined);
    if (early) return { status: early.statusCode ?? 0, body: await readJson(early).catch(() => ({})) };
    throw new AgentChannelError(`streaming to the agent failed: ${(err as Error).message}`, { cause: err });
  }
  const res = await replied.catch((err: unknown) => {
    throw new AgentChannelError(`the agent did not answer: ${(err as Error).message}`, { cause: err });
  });
  return { status: res.statusCode ?? 0, body: await readJson(res) };
}

/**
 * Opens a download from the agent (`GET`, optional `Range`). Resolves with the agent's response
 * stream; the caller pipes it to its client (a slow client slows the agent's reads).
 */
export function getFromAgent(options: {
  endpoint: AgentEndpoint;
  tls: AgentTls;
  transferId: string;
  secret: string;
  range?: string;
}): Promise<IncomingMessage> {
  const tls = options.tls();
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: options.endpoint.address,
        port: options.endpoint.port,
        method: 'GET',
        path: TRANSFER_HTTP_PREFIX + options.transferId,
        ca: tls.ca,
        cert: tls.cert,
        key: tls.key,
        minVersion: 'TLSv1.3',
        headers: {
          authorization: `Bearer ${options.secret}`,
          ...(options.range ? { range: options.range } : {}),
        },
      },
      resolve,
    );
    req.on('error', (err) =>
      reject(new AgentChannelError(`the agent did not answer: ${err.message}`, { cause: err })),
    );
    req.end();
  });
}

/** Reads an agent's JSON error reply (for non-2xx download answers). */
export { readJson as readAgentJson };
