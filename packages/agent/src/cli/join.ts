import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { dirname } from 'node:path';
import type { AgentConfig } from '../config';
import { UsageError } from './args';

export const JOIN_USAGE = `usage: vireo-agent join --engine URL (--token-file FILE | --token-stdin | --token TOKEN)
                         (--ca-fingerprint SHA256 | --ca-file FILE) --address ADDRESS [--name NAME]
                         [--state-dir DIR] [--listen HOST:PORT] [--config FILE]

  Enrolls this host with an engine using a single-use join token: generates the agent key here
  (it never leaves this machine), sends its public key, and writes the key (0600), the host
  certificate and the engine CA where "vireo-agent serve" reads them.
  --token puts the token on the command line, where other users of this machine can read it
  (ps, /proc); prefer --token-file or --token-stdin.
  --ca-fingerprint is the SHA-256 of the engine CA (printed with the join token); the CA is
  fetched from the engine and trusted only if it matches.`;

export interface JoinOptions {
  engine: string;
  token: string;
  caFingerprint?: string;
  caPem?: string;
  name: string;
  address: string;
}

export interface JoinResult {
  hostId: string;
  certFile: string;
}

/** `AB:CD:…` or `abcd…` → `ABCD…`, so either spelling compares equal. */
export function normaliseFingerprint(text: string): string {
  return text.replace(/[:\s]/g, '').toUpperCase();
}

interface HttpAnswer {
  status: number;
  body: string;
  peerCertificatePem?: string;
}

function request(
  url: URL,
  opts: { method: string; body?: string; ca?: string; insecure?: boolean },
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method: opts.method,
        headers: opts.body
          ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(opts.body) }
          : {},
        ...(opts.ca ? { ca: opts.ca } : {}),
        // Only for fetching the CA, which is then checked against the fingerprint the admin gave.
        rejectUnauthorized: !opts.insecure,
        timeout: 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > 1 << 20) req.destroy(new Error('the engine answered more than 1 MiB'));
          else chunks.push(c);
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url.origin} within 30 s`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Fetches the engine CA and accepts it only when its SHA-256 fingerprint is the expected one. */
async function fetchPinnedCa(engine: URL, fingerprint: string): Promise<string> {
  const answer = await request(new URL('/api/v1/pki/ca.pem', engine), { method: 'GET', insecure: true });
  if (answer.status !== 200) throw new Error(`GET /api/v1/pki/ca.pem answered ${answer.status}`);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(answer.body);
  } catch (err) {
    throw new Error('the engine did not answer a PEM certificate for its CA', { cause: err });
  }
  if (normaliseFingerprint(cert.fingerprint256) !== normaliseFingerprint(fingerprint)) {
    throw new Error(
      `the engine CA fingerprint is ${cert.fingerprint256}, not the expected one: refusing to trust it`,
    );
  }
  return cert.toString();
}

function writeAtomic(file: string, content: string, mode: number): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, content, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, file);
}

/**
 * Enrolls this host: key generated locally, public key + token sent to the engine over TLS
 * verified against the pinned CA, then key/certificate/CA written for `serve`.
 */
export async function joinEngine(
  opts: JoinOptions,
  tls: AgentConfig['tls'],
  port: number,
): Promise<JoinResult> {
  let engine: URL;
  try {
    engine = new URL(opts.engine);
  } catch {
    throw new UsageError(`--engine must be a URL such as https://engine.example:8443 (got "${opts.engine}")`);
  }
  if (engine.protocol !== 'https:') throw new UsageError('--engine must be an https:// URL');
  const ca = opts.caPem ?? (opts.caFingerprint ? await fetchPinnedCa(engine, opts.caFingerprint) : undefined);
  if (!ca) throw new UsageError('give --ca-fingerprint or --ca-file so the engine can be authenticated');

  const keys = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const publicKeyPem = keys.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const privateKeyPem = keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

  const answer = await request(new URL('/api/v1/hosts/join', engine), {
    method: 'POST',
    ca,
    body: JSON.stringify({
      token: opts.token,
      name: opts.name,
      address: opts.address,
      port,
      public_key: publicKeyPem,
    }),
  });
  let body: {
    host_id?: string;
    certificate?: string;
    ca?: string;
    error?: { code: string; message: string };
  };
  try {
    body = JSON.parse(answer.body);
  } catch {
    throw new Error(`the engine answered ${answer.status} with a body that is not JSON`);
  }
  if (answer.status !== 201 || !body.host_id || !body.certificate || !body.ca) {
    const e = body.error;
    throw new Error(e ? `join refused: ${e.code}: ${e.message}` : `join failed with HTTP ${answer.status}`);
  }
  // Key first: a certificate without its key would make "serve" fail in a confusing way.
  writeAtomic(tls.key, privateKeyPem, 0o600);
  writeAtomic(tls.cert, body.certificate, 0o644);
  writeAtomic(tls.ca, body.ca, 0o644);
  return { hostId: body.host_id, certFile: tls.cert };
}

/** Reads the token from a file or stdin (trailing whitespace removed). */
export function readToken(source: { file?: string; stdin?: boolean; value?: string }): string {
  const given = [source.file !== undefined, source.stdin === true, source.value !== undefined].filter(
    Boolean,
  );
  if (given.length !== 1) throw new UsageError('give exactly one of --token-file, --token-stdin, --token');
  const raw =
    source.value ?? (source.file !== undefined ? readFileSync(source.file, 'utf8') : readFileSync(0, 'utf8'));
  const token = raw.trim();
  if (!token) throw new UsageError('the join token is empty');
  return token;
}
