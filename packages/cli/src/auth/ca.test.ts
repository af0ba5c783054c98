import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  makeTlsFixture,
  startHttpsServer,
  type TestServer,
  type TlsFixture,
} from '../../../client/test/support/tls-fixture';
import { fetchCa, normalizeFingerprint } from './ca';

let engineTls: TlsFixture;
let otherTls: TlsFixture;
const servers: TestServer[] = [];

beforeAll(() => {
  engineTls = makeTlsFixture('Engine CA');
  otherTls = makeTlsFixture('Other CA');
});
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

async function serving(body: string, status = 200) {
  const server = await startHttpsServer(engineTls, (req, res) => {
    if (req.url !== '/api/v1/pki/ca.pem') {
      res.writeHead(404);
      res.end();
      return;
    }
    res.writeHead(status, { 'content-type': 'application/x-pem-file' });
    res.end(body);
  });
  servers.push(server);
  return new URL(`${server.url}/api/v1`);
}

describe('fetchCa (trust on first use)', () => {
  it('returns the CA with its fingerprint when the server certificate chains to it', async () => {
    const ca = await fetchCa(await serving(engineTls.caPem));
    expect(ca.fingerprint).toBe(engineTls.caFingerprint);
    expect(ca.subject).toContain('CN=Engine CA');
  });

  it('refuses a CA that did not issue the server certificate', async () => {
    await expect(fetchCa(await serving(otherTls.caPem))).rejects.toMatchObject({
      code: 'ca_mismatch',
      exitCode: 6,
    });
  });

  it('refuses non-certificates, leaf certificates and error answers', async () => {
    await expect(fetchCa(await serving('hello'))).rejects.toMatchObject({ code: 'ca_invalid' });
    await expect(fetchCa(await serving(engineTls.serverCert))).rejects.toMatchObject({ code: 'ca_invalid' });
    await expect(fetchCa(await serving('', 500))).rejects.toMatchObject({ code: 'ca_unavailable' });
  });

  it('reports an unreachable engine as a connection error', async () => {
    const url = await serving(engineTls.caPem);
    await servers.pop()!.close();
    await expect(fetchCa(url)).rejects.toMatchObject({ code: 'connection_failed', exitCode: 6 });
  });
});

describe('normalizeFingerprint', () => {
  it('accepts colons, plain hex, any case and a SHA256: prefix', () => {
    const fp = `${'AB:'.repeat(31)}AB`;
    expect(normalizeFingerprint(fp.toLowerCase())).toBe(fp);
    expect(normalizeFingerprint(`SHA256:${fp.replace(/:/g, '')}`)).toBe(fp);
    expect(() => normalizeFingerprint('AB:CD')).toThrow(/64 hex digits/);
  });
});
