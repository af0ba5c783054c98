import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, issueCertificateForKey } from '@vireo/pki';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CertificateRenewer } from './certificate';

describe('CertificateRenewer (agent side of certificate renewal)', () => {
  let dir: string;
  let files: { ca: string; cert: string; key: string };
  let applied: { cert: string; key: string }[];
  let ca: Awaited<ReturnType<typeof createCa>>;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vireo-renew-'));
    files = { ca: join(dir, 'ca.pem'), cert: join(dir, 'agent.pem'), key: join(dir, 'agent-key.pem') };
    ca = await createCa({ commonName: 'test CA' });
    await writeFile(files.ca, ca.certPem);
    await writeFile(files.cert, 'old cert');
    await writeFile(files.key, 'old key', { mode: 0o600 });
    applied = [];
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const renewer = () => new CertificateRenewer({ files, apply: (t) => void applied.push(t) });
  const sign = (publicKeyPem: string, by = ca) =>
    issueCertificateForKey({
      ca: by,
      commonName: 'h',
      altNames: ['127.0.0.1'],
      usage: 'server+client',
      publicKeyPem,
    });

  it('installs a certificate for the pending key: files replaced (key 0600) and the TLS context swapped', async () => {
    const r = renewer();
    const { public_key } = r.renew();
    const pem = await sign(public_key);
    const result = await r.install(pem);
    expect(result.serial).toBe(new X509Certificate(pem).serialNumber);
    expect(await readFile(files.cert, 'utf8')).toBe(new X509Certificate(pem).toString());
    expect(
      new X509Certificate(await readFile(files.cert)).checkPrivateKey(
        (await import('node:crypto')).createPrivateKey(await readFile(files.key, 'utf8')),
      ),
    ).toBe(true);
    expect((await stat(files.key)).mode & 0o777).toBe(0o600);
    expect(applied).toHaveLength(1);
    // One renewal, one install: the pending key is consumed.
    await expect(r.install(pem)).rejects.toMatchObject({ code: 'invalid_params' });
  });

  it('refuses a certificate from another CA or for another key, leaving the files alone', async () => {
    const r = renewer();
    const { public_key } = r.renew();
    const other = await createCa({ commonName: 'other CA' });
    await expect(r.install(await sign(public_key, other))).rejects.toThrow(/not signed by the CA/);
    const stranger = renewer().renew().public_key;
    await expect(r.install(await sign(stranger))).rejects.toThrow(/not for the key/);
    await expect(r.install('not a certificate')).rejects.toMatchObject({ code: 'invalid_params' });
    expect(await readFile(files.cert, 'utf8')).toBe('old cert');
    expect(await readFile(files.key, 'utf8')).toBe('old key');
    expect(applied).toHaveLength(0);
  });

  it('refuses an install without a renewal', async () => {
    await expect(renewer().install('x'.repeat(100))).rejects.toThrow(/no renewal in progress/);
  });
});
