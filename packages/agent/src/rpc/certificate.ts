import { X509Certificate, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmod, readFile, rename, writeFile } from 'node:fs/promises';
import type { InstallCertificateResult, RenewCertificateResult } from '@vireo/agent-protocol';
import { AgentError } from '../util/errors';

/** Where the agent's TLS files are, and how to swap the live server's TLS context. */
export interface CertificateRenewerOptions {
  files: { ca: string; cert: string; key: string };
  /** Replaces the TLS context of the listening server (new handshakes only). */
  apply(tls: { ca: string; cert: string; key: string }): void;
}

async function writeTemp(file: string, content: string, mode: number): Promise<string> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, content, { mode });
  await chmod(tmp, mode);
  return tmp;
}

/**
 * Certificate renewal on the agent's side (`agent.renew_certificate` then
 * `agent.install_certificate`). The new private key stays in memory until a certificate for it
 * arrives, so an abandoned renewal leaves the current files untouched.
 */
export class CertificateRenewer {
  private pending: KeyObject | undefined;

  constructor(private readonly opts: CertificateRenewerOptions) {}

  renew(): RenewCertificateResult {
    const keys = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    this.pending = keys.privateKey;
    return { public_key: keys.publicKey.export({ type: 'spki', format: 'pem' }).toString() };
  }

  async install(certificatePem: string): Promise<InstallCertificateResult> {
    const key = this.pending;
    if (!key)
      throw new AgentError('invalid_params', 'no renewal in progress: call agent.renew_certificate first');
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(certificatePem);
    } catch (err) {
      throw new AgentError('invalid_params', 'certificate is not a PEM X.509 certificate', { cause: err });
    }
    const ca = await readFile(this.opts.files.ca, 'utf8');
    if (!cert.verify(new X509Certificate(ca).publicKey)) {
      throw new AgentError('invalid_params', 'the certificate is not signed by the CA this agent trusts');
    }
    if (!cert.checkPrivateKey(key)) {
      throw new AgentError('invalid_params', 'the certificate is not for the key of the current renewal');
    }
    const keyPem = key.export({ type: 'pkcs8', format: 'pem' }).toString();
    // Both written in full before either replaces the old file: only the instant between the two
    // renames could leave a mismatched pair (which `serve` would report at its next start).
    const keyTmp = await writeTemp(this.opts.files.key, keyPem, 0o600);
    const certTmp = await writeTemp(this.opts.files.cert, cert.toString(), 0o644);
    await rename(keyTmp, this.opts.files.key);
    await rename(certTmp, this.opts.files.cert);
    this.opts.apply({ ca, cert: cert.toString(), key: keyPem });
    this.pending = undefined;
    return { serial: cert.serialNumber, not_after: new Date(cert.validTo).toISOString() };
  }
}
