import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { certificateInfo, createCa, issueCertificate } from '@vireo/pki';
import { afterAll, describe, expect, it } from 'vitest';
import { EngineCa, checkServerCertificate, ensureServerCertificate } from './engine-ca';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vireo-pki-test-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const files = {
  caCert: path.join(dir, 'pki/ca.pem'),
  caKey: path.join(dir, 'secrets/ca.key'),
  serverCert: path.join(dir, 'pki/engine.pem'),
  serverKey: path.join(dir, 'secrets/engine.key'),
};
const mode = (f: string) => fs.statSync(f).mode & 0o777;

describe('engine CA files', () => {
  it('creates a 10-year CA with a 0600 key, loads it back, and never overwrites it', async () => {
    const ca = await EngineCa.create(files, { organization: 'Acme' });
    expect(mode(files.caKey)).toBe(0o600);
    expect(mode(files.caCert)).toBe(0o644);
    const info = ca.info();
    expect(info.isCa).toBe(true);
    expect(info.subject).toContain('O=Acme');
    const years = (info.notAfter.getTime() - Date.now()) / (365.25 * 86_400_000);
    expect(years).toBeGreaterThan(9.9);
    await expect(EngineCa.create(files, { organization: 'Other' })).rejects.toThrow(/refusing to replace/);
    expect(EngineCa.load(files).certPem).toBe(ca.certPem);

    fs.chmodSync(files.caKey, 0o644);
    expect(() => EngineCa.load(files)).toThrow(/readable by other users/);
    fs.chmodSync(files.caKey, 0o600);
  });

  it('issues the server certificate once and reissues when names, key or signer no longer fit', async () => {
    const ca = EngineCa.load(files);
    const names = ['engine.example', 'localhost', '127.0.0.1', '::1'];
    const first = await ensureServerCertificate(ca, files, names);
    expect(mode(files.serverKey)).toBe(0o600);
    expect(certificateInfo(first.certPem).altNames).toEqual(
      expect.arrayContaining(['engine.example', '127.0.0.1']),
    );
    expect(ca.issued(first.certPem)).toBe(true);
    // Same names: the same certificate is kept.
    expect((await ensureServerCertificate(ca, files, names)).certPem).toBe(first.certPem);
    expect(checkServerCertificate(ca, first, names)).toEqual({ reissue: false });

    expect(checkServerCertificate(ca, first, [...names, 'new.example'])).toMatchObject({
      reissue: true,
      reason: expect.stringContaining('new.example'),
    });
    const inAYear = Date.now() + 380 * 86_400_000;
    expect(checkServerCertificate(ca, first, names, inAYear)).toMatchObject({
      reissue: true,
      reason: expect.stringContaining('expires'),
    });
    const other = await createCa({ commonName: 'someone else' });
    const foreign = await issueCertificate({ ca: other, commonName: 'x', altNames: names, usage: 'server' });
    expect(checkServerCertificate(ca, foreign, names)).toMatchObject({
      reason: expect.stringContaining('not signed'),
    });
    expect(
      checkServerCertificate(ca, { certPem: first.certPem, keyPem: foreign.keyPem }, names),
    ).toMatchObject({
      reason: expect.stringContaining('does not match'),
    });

    const wider = await ensureServerCertificate(ca, files, [...names, 'new.example']);
    expect(wider.certPem).not.toBe(first.certPem);
    expect(fs.readFileSync(files.serverCert, 'utf8')).toBe(wider.certPem);
  });

  it('issues host certificates usable for both ends of mTLS', async () => {
    const ca = EngineCa.load(files);
    const host = await ca.issueHostCertificate({
      hostId: '4b1c0f7e-0000-4000-8000-000000000001',
      address: '10.1.2.3',
    });
    const info = certificateInfo(host.certPem);
    expect(info.altNames).toEqual(['10.1.2.3']);
    expect(ca.issued(host.certPem)).toBe(true);
  });
});
