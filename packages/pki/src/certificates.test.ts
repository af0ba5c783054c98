import { once } from 'node:events';
import tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import { certificateInfo, createCa, isIssuedBy, issueCertificate } from './certificates';

describe('pki', () => {
  it('issues certificates that real TLS accepts for mutual authentication, with name checks', async () => {
    const ca = await createCa({ commonName: 'Vireo test CA', organization: 'Test, Inc.' });
    const server = await issueCertificate({
      ca,
      commonName: 'host1',
      altNames: ['127.0.0.1', 'localhost'],
      usage: 'server',
    });
    const client = await issueCertificate({ ca, commonName: 'engine', usage: 'client' });
    expect(isIssuedBy(server.certPem, ca.certPem)).toBe(true);
    expect(certificateInfo(server.certPem).altNames).toEqual(['127.0.0.1', 'localhost']);
    expect(certificateInfo(ca.certPem).isCa).toBe(true);

    const srv = tls.createServer(
      {
        cert: server.certPem,
        key: server.keyPem,
        ca: ca.certPem,
        requestCert: true,
        rejectUnauthorized: true,
      },
      (s) => s.end(`hello ${s.getPeerCertificate().subject.CN}`),
    );
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    const port = (srv.address() as { port: number }).port;
    try {
      const sock = tls.connect({
        host: '127.0.0.1',
        port,
        ca: ca.certPem,
        cert: client.certPem,
        key: client.keyPem,
      });
      const [data] = await once(sock, 'data');
      expect(String(data)).toBe('hello engine');
      sock.destroy();

      // Without a client certificate the server refuses the connection.
      const anon = tls.connect({ host: '127.0.0.1', port, ca: ca.certPem });
      const outcome = await new Promise<string>((resolve) => {
        anon.on('data', () => resolve('data'));
        anon.on('error', () => resolve('error'));
        anon.on('close', () => resolve('closed'));
      });
      expect(outcome).not.toBe('data');
      anon.destroy();

      // A name not in the certificate fails verification on the client side.
      const wrong = tls.connect({
        host: '127.0.0.1',
        port,
        servername: 'otherhost',
        ca: ca.certPem,
        cert: client.certPem,
        key: client.keyPem,
      });
      const [err] = await once(wrong, 'error');
      expect(String((err as Error).message)).toMatch(/altnames|IP/i);
    } finally {
      srv.close();
    }
  });

  it('honours a short validity so renewal can be tested', async () => {
    const ca = await createCa({ commonName: 'ca' });
    const leaf = await issueCertificate({ ca, commonName: 'x', usage: 'server', validityMs: 60_000 });
    const info = certificateInfo(leaf.certPem);
    expect(info.notAfter.getTime() - Date.now()).toBeLessThanOrEqual(60_000);
    expect(info.notAfter.getTime()).toBeGreaterThan(Date.now());
  });
});
