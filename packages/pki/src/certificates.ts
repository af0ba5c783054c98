// @peculiar/x509 resolves its ASN.1 providers through tsyringe, which needs the Reflect metadata API.
import 'reflect-metadata';
import { X509Certificate as NodeX509, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKey = webcrypto.CryptoKey;

// ECDSA P-256: small, fast to generate (~1 ms vs ~100 ms for RSA-2048) and accepted by every TLS stack.
const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

/** A certificate and its private key, both PEM. The key is a secret: store it 0600, never log it. */
export interface KeyPair {
  certPem: string;
  keyPem: string;
}

export interface CaOptions {
  commonName: string;
  organization?: string;
  validityDays?: number;
}

export type CertificateUsage = 'server' | 'client' | 'server+client';

export interface IssueOptions {
  ca: KeyPair;
  commonName: string;
  /** DNS names and IP addresses; each becomes a subjectAltName entry of the right type. */
  altNames?: string[];
  usage: CertificateUsage;
  /** Validity; short values exist so renewal can be tested. Default 398 days. */
  validityMs?: number;
  organization?: string;
}

export interface CertificateInfo {
  subject: string;
  issuer: string;
  serial: string;
  notBefore: Date;
  notAfter: Date;
  altNames: string[];
  fingerprintSha256: string;
  isCa: boolean;
}

/** Creates a self-signed certificate authority (long-lived: 10 years by default). */
export async function createCa(opts: CaOptions): Promise<KeyPair> {
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: distinguishedName(opts.commonName, opts.organization),
    notBefore: new Date(now - 5 * 60_000), // tolerate small clock skew between machines
    notAfter: new Date(now + (opts.validityDays ?? 3650) * DAY_MS),
    signingAlgorithm: ALG,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await exportKey(keys.privateKey) };
}

/** Issues a leaf certificate signed by `ca`. */
export async function issueCertificate(opts: IssueOptions): Promise<KeyPair> {
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const certPem = await signLeaf(opts, keys.publicKey);
  return { certPem, keyPem: await exportKey(keys.privateKey) };
}

/**
 * Issues a leaf certificate for a public key the subject generated itself (SPKI PEM, ECDSA P-256),
 * so its private key never leaves its machine (host enrollment and renewal). Returns the PEM.
 */
export async function issueCertificateForKey(opts: IssueOptions & { publicKeyPem: string }): Promise<string> {
  const der = Buffer.from(opts.publicKeyPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const publicKey = await webcrypto.subtle.importKey('spki', der, ALG, true, ['verify']);
  return signLeaf(opts, publicKey);
}

async function signLeaf(opts: IssueOptions, publicKey: CryptoKey): Promise<string> {
  const caCert = new x509.X509Certificate(opts.ca.certPem);
  const caKey = await importKey(opts.ca.keyPem);
  const keys = { publicKey };
  const now = Date.now();
  const ext: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
    new x509.ExtendedKeyUsageExtension(extendedUsages(opts.usage), false),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(caCert),
  ];
  const altNames = opts.altNames ?? [];
  if (altNames.length > 0) {
    ext.push(
      new x509.SubjectAlternativeNameExtension(
        altNames.map((n) =>
          isIP(n) ? { type: 'ip' as const, value: n } : { type: 'dns' as const, value: n },
        ),
      ),
    );
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: distinguishedName(opts.commonName, opts.organization),
    issuer: caCert.subject,
    notBefore: new Date(now - 5 * 60_000),
    notAfter: new Date(now + (opts.validityMs ?? 398 * DAY_MS)),
    signingAlgorithm: ALG,
    publicKey: keys.publicKey,
    signingKey: caKey,
    extensions: ext,
  });
  return cert.toString('pem');
}

/** Reads the facts people and renewal logic need from a PEM certificate. */
export function certificateInfo(pem: string): CertificateInfo {
  const c = new NodeX509(pem);
  return {
    subject: c.subject.replace(/\n/g, ', '),
    issuer: c.issuer.replace(/\n/g, ', '),
    serial: c.serialNumber,
    notBefore: new Date(c.validFrom),
    notAfter: new Date(c.validTo),
    altNames: (c.subjectAltName ?? '')
      .split(/,\s*/)
      .filter(Boolean)
      .map((s) => s.replace(/^(DNS|IP Address):/, '')),
    fingerprintSha256: c.fingerprint256,
    isCa: c.ca,
  };
}

/** True when `pem` was signed by `caPem` (signature check, not a full path validation). */
export function isIssuedBy(pem: string, caPem: string): boolean {
  return new NodeX509(pem).verify(new NodeX509(caPem).publicKey);
}

function extendedUsages(usage: CertificateUsage): string[] {
  const out: string[] = [];
  if (usage.includes('server')) out.push(x509.ExtendedKeyUsage.serverAuth);
  if (usage.includes('client')) out.push(x509.ExtendedKeyUsage.clientAuth);
  return out;
}

function distinguishedName(cn: string, o?: string): string {
  const esc = (v: string) => v.replace(/([,+"\\<>;=])/g, '\\$1');
  return o ? `CN=${esc(cn)}, O=${esc(o)}` : `CN=${esc(cn)}`;
}

function randomSerial(): string {
  const b = webcrypto.getRandomValues(new Uint8Array(16));
  b[0] = (b[0] ?? 0) & 0x7f; // positive INTEGER
  return Buffer.from(b).toString('hex');
}

async function exportKey(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN PRIVATE KEY-----\n${b64.trimEnd()}\n-----END PRIVATE KEY-----\n`;
}

async function importKey(pem: string): Promise<CryptoKey> {
  const der = Buffer.from(pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
  return webcrypto.subtle.importKey('pkcs8', der, ALG, false, ['sign']);
}
