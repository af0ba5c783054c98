// Test-only PKI: a throwaway CA and a server certificate for 127.0.0.1/localhost, made with the
// openssl CLI in a private temp dir that is removed before returning.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TlsFixture {
  caPem: string;
  /** SHA-256 fingerprint of the CA as colon-separated upper-case hex. */
  caFingerprint: string;
  serverKey: string;
  serverCert: string;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Creates a CA and a server certificate it signed. */
export function makeTlsFixture(cn = 'Vireo Test CA'): TlsFixture {
  const dir = mkdtempSync(join(tmpdir(), 'vireo-tls-'));
  try {
    openssl(dir, ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key']);
    openssl(dir, [
      'req',
      '-x509',
      '-new',
      '-key',
      'ca.key',
      '-subj',
      `/CN=${cn}`,
      '-days',
      '2',
      '-out',
      'ca.pem',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    openssl(dir, ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'server.key']);
    openssl(dir, ['req', '-new', '-key', 'server.key', '-subj', '/CN=localhost', '-out', 'server.csr']);
    writeFileSync(
      join(dir, 'ext.cnf'),
      'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n',
    );
    openssl(dir, [
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      'ext.cnf',
      '-out',
      'server.pem',
    ]);
    const caPem = readFileSync(join(dir, 'ca.pem'), 'utf8');
    const fixture: TlsFixture = {
      caPem,
      caFingerprint: new X509Certificate(caPem).fingerprint256,
      serverKey: readFileSync(join(dir, 'server.key'), 'utf8'),
      serverCert: readFileSync(join(dir, 'server.pem'), 'utf8'),
    };
    return fixture;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void | Promise<void>;

export interface TestServer {
  url: string;
  server: Server;
  /** Requests seen, in order: method, path with query, headers. */
  requests: { method: string; url: string; headers: IncomingMessage['headers']; body: string }[];
  close(): Promise<void>;
}

/** An HTTPS server on 127.0.0.1 with an ephemeral port that answers with `handler`. */
export async function startHttpsServer(tls: TlsFixture, handler: Handler): Promise<TestServer> {
  const requests: TestServer['requests'] = [];
  const server = createServer({ key: tls.serverKey, cert: tls.serverCert }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      Promise.resolve(handler(req, res, body)).catch((err) => {
        res.statusCode = 500;
        res.end(String(err));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    server,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}
