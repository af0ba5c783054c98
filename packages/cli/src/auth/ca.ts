import { X509Certificate } from 'node:crypto';
import { request } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { CliError, ExitCode, usageError } from '../framework/errors';

/** A CA certificate offered for trust. */
export interface CaCandidate {
  pem: string;
  /** SHA-256 of the DER, colon-separated upper-case hex (as `openssl x509 -fingerprint -sha256`). */
  fingerprint: string;
  subject: string;
  validTo: string;
}

const MAX_CA_BYTES = 64 * 1024;

/** Parses and checks a PEM CA certificate (first certificate of the bundle). */
export function parseCa(pem: string, source: string): CaCandidate {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch (cause) {
    throw new CliError('ca_invalid', `${source} is not a PEM certificate`, ExitCode.connection, { cause });
  }
  if (!cert.ca) throw new CliError('ca_invalid', `${source} is not a CA certificate`, ExitCode.connection);
  return {
    pem,
    fingerprint: cert.fingerprint256,
    subject: cert.subject.replace(/\n/g, ', '),
    validTo: cert.validTo,
  };
}

/** Normalises a fingerprint typed by a person: optional `SHA256:` prefix, colons, any case. */
export function normalizeFingerprint(value: string): string {
  const hex = value
    .trim()
    .replace(/^sha-?256[:=]?/i, '')
    .replace(/[:\s]/g, '')
    .toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(hex)) {
    throw usageError('a SHA-256 fingerprint is 64 hex digits (colons optional)', 'invalid_fingerprint');
  }
  return hex.match(/../g)!.join(':');
}

/** True when the peer's chain contains, or was signed by, `ca`. */
function chainsTo(socket: TLSSocket, ca: X509Certificate): boolean {
  let peer = socket.getPeerX509Certificate();
  for (let depth = 0; peer && depth < 8; depth++) {
    if (peer.fingerprint256 === ca.fingerprint256) return true;
    if (peer.checkIssued(ca) && peer.verify(ca.publicKey)) return true;
    const next = peer.issuerCertificate;
    if (!next || next.fingerprint256 === peer.fingerprint256) break;
    peer = next;
  }
  return false;
}

/**
 * Trust on first use: downloads `GET /api/v1/pki/ca.pem` over a connection whose certificate
 * is *not yet* verified (nothing to verify against yet). The person (or
 * --accept-ca-fingerprint) then decides on the fingerprint; from then on every request verifies
 * against this CA. Also refuses a server whose own certificate was not issued by the CA it serves.
 */
export function fetchCa(apiBase: URL, timeoutMs = 15_000): Promise<CaCandidate> {
  const url = new URL(`${apiBase.pathname}/pki/ca.pem`, apiBase);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'GET',
        rejectUnauthorized: false,
        timeout: timeoutMs,
        headers: { accept: 'application/x-pem-file, */*' },
      },
      (res) => {
        const socket = res.socket as TLSSocket;
        if (res.statusCode !== 200) {
          res.resume();
          reject(
            new CliError(
              'ca_unavailable',
              `${url.origin} answered ${res.statusCode} for its CA certificate`,
              ExitCode.connection,
            ),
          );
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_CA_BYTES)
            req.destroy(new CliError('ca_invalid', 'the CA certificate is too large', ExitCode.connection));
          else chunks.push(c);
        });
        res.on('end', () => {
          try {
            const candidate = parseCa(
              Buffer.concat(chunks).toString('utf8'),
              `the CA served by ${url.origin}`,
            );
            if (!chainsTo(socket, new X509Certificate(candidate.pem))) {
              throw new CliError(
                'ca_mismatch',
                `the certificate of ${url.origin} was not issued by the CA it serves; refusing to trust it`,
                ExitCode.connection,
              );
            }
            resolve(candidate);
          } catch (err) {
            reject(err);
          }
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () =>
      req.destroy(new CliError('timeout', `${url.origin} did not answer in time`, ExitCode.timeout)),
    );
    req.on('error', (err) => {
      if (err instanceof CliError) return reject(err);
      const code = (err as { code?: string }).code ?? err.message;
      reject(
        new CliError('connection_failed', `cannot reach ${url.origin} (${code})`, ExitCode.connection, {
          cause: err,
        }),
      );
    });
    req.end();
  });
}
