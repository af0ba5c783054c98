import { X509Certificate, createPrivateKey } from 'node:crypto';
import fs from 'node:fs';
import { isIP } from 'node:net';
import os from 'node:os';
import {
  type CertificateInfo,
  type KeyPair,
  certificateInfo,
  createCa,
  isIssuedBy,
  issueCertificate,
  issueCertificateForKey,
} from '@vireo/pki';
import { assertPrivate, writePublicFile, writeSecretFile } from './files';

const DAY_MS = 86_400_000;
/** The engine CA lives 10 years: hosts trust it, and replacing it means re-enrolling every host. */
export const CA_VALIDITY_DAYS = 3650;
/** Server and host certificates: about a year (browsers' 398-day ceiling), renewed well before. */
export const LEAF_VALIDITY_MS = 398 * DAY_MS;
/** A leaf certificate closer than this to its end is replaced at start. */
export const RENEW_BEFORE_MS = 30 * DAY_MS;

export interface CaFiles {
  /** The CA certificate, public (served at /api/v1/pki/ca.pem). */
  caCert: string;
  /** The CA private key, 0600 under secrets/. */
  caKey: string;
}

export interface ServerCertFiles {
  serverCert: string;
  serverKey: string;
}

/**
 * The engine's internal certificate authority: it signs the engine's HTTPS certificate now, and
 * host (agent) certificates from the host-enrollment issue on. The key never leaves `secrets/`.
 */
export class EngineCa {
  private constructor(private readonly pair: KeyPair) {}

  /** Creates a new CA and writes it; refuses to overwrite an existing one (hosts trust it). */
  static async create(files: CaFiles, opts: { organization: string }): Promise<EngineCa> {
    if (fs.existsSync(files.caCert) || fs.existsSync(files.caKey)) {
      throw new Error(`a CA already exists at ${files.caCert}; refusing to replace it`);
    }
    const pair = await createCa({
      commonName: 'Vireo Engine CA',
      organization: opts.organization,
      validityDays: CA_VALIDITY_DAYS,
    });
    // Key first: a certificate without its key would look like a usable CA.
    writeSecretFile(files.caKey, pair.keyPem);
    writePublicFile(files.caCert, pair.certPem);
    return new EngineCa(pair);
  }

  /** Loads the CA written by setup; checks the key is still private. */
  static load(files: CaFiles): EngineCa {
    assertPrivate(files.caKey);
    const pair = {
      certPem: fs.readFileSync(files.caCert, 'utf8'),
      keyPem: fs.readFileSync(files.caKey, 'utf8'),
    };
    return new EngineCa(pair);
  }

  get certPem(): string {
    return this.pair.certPem;
  }

  info(): CertificateInfo {
    return certificateInfo(this.pair.certPem);
  }

  /** Issues the engine's own HTTPS certificate covering `names` (DNS names and IPs). */
  issueServerCertificate(names: string[], organization?: string, validityMs?: number): Promise<KeyPair> {
    return issueCertificate({
      ca: this.pair,
      commonName: names[0] ?? 'localhost',
      altNames: names,
      usage: 'server',
      validityMs: validityMs ?? LEAF_VALIDITY_MS,
      ...(organization ? { organization } : {}),
    });
  }

  /**
   * Issues a host's certificate: the agent serves TLS with it and the engine, connecting as a
   * client with its own CA-signed certificate, checks it (mTLS). Used by host enrollment.
   */
  issueHostCertificate(opts: { hostId: string; address: string; validityMs?: number }): Promise<KeyPair> {
    return issueCertificate({
      ca: this.pair,
      commonName: opts.hostId,
      altNames: [opts.address],
      usage: 'server+client',
      validityMs: opts.validityMs ?? LEAF_VALIDITY_MS,
    });
  }

  /**
   * Issues a host's certificate for the public key the agent generated (SPKI PEM): enrollment and
   * renewal, so the host's private key never leaves the host.
   */
  issueHostCertificateForKey(opts: {
    hostId: string;
    address: string;
    publicKeyPem: string;
    validityMs?: number;
  }): Promise<string> {
    return issueCertificateForKey({
      ca: this.pair,
      commonName: opts.hostId,
      altNames: [opts.address],
      usage: 'server+client',
      validityMs: opts.validityMs ?? LEAF_VALIDITY_MS,
      publicKeyPem: opts.publicKeyPem,
    });
  }

  /** Issues the certificate the engine presents to agents (client usage only). */
  issueEngineClientCertificate(name: string, validityMs?: number): Promise<KeyPair> {
    return issueCertificate({
      ca: this.pair,
      commonName: name,
      usage: 'client',
      validityMs: validityMs ?? LEAF_VALIDITY_MS,
    });
  }

  /** True when `certPem` was signed by this CA. */
  issued(certPem: string): boolean {
    return isIssuedBy(certPem, this.pair.certPem);
  }
}

/** The names the engine's server certificate must cover. */
export function serverCertificateNames(opts: { serverNames: string[]; listenHost: string }): string[] {
  const names = [...opts.serverNames];
  const host = os.hostname();
  if (/^[A-Za-z0-9.-]{1,253}$/.test(host)) names.push(host);
  names.push('localhost', '127.0.0.1', '::1');
  if (!['0.0.0.0', '::', ''].includes(opts.listenHost)) names.push(opts.listenHost);
  return [...new Set(names.map((n) => (isIP(n) ? n : n.toLowerCase())))];
}

export type ServerCertDecision = { reissue: false } | { reissue: true; reason: string };

/** Whether the certificate on disk is still good for `names` at `now`. */
export function checkServerCertificate(
  ca: EngineCa,
  pair: KeyPair | undefined,
  names: string[],
  now = Date.now(),
): ServerCertDecision {
  if (pair === undefined) return { reissue: true, reason: 'no server certificate yet' };
  const { certPem, keyPem } = pair;
  let info: CertificateInfo;
  try {
    info = certificateInfo(certPem);
    // A crash between writing the key and the certificate would leave a pair that cannot work.
    if (!new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem))) {
      return { reissue: true, reason: 'the server key does not match its certificate' };
    }
  } catch {
    return { reissue: true, reason: 'the server certificate or key cannot be parsed' };
  }
  if (!ca.issued(certPem))
    return { reissue: true, reason: 'the server certificate is not signed by the engine CA' };
  if (info.notAfter.getTime() - now < RENEW_BEFORE_MS) {
    return { reissue: true, reason: `the server certificate expires on ${info.notAfter.toISOString()}` };
  }
  const covered = new Set(info.altNames.map((n) => normaliseAltName(n)));
  const missing = names.filter((n) => !covered.has(normaliseAltName(n)));
  if (missing.length > 0)
    return { reissue: true, reason: `the server certificate does not cover ${missing.join(', ')}` };
  return { reissue: false };
}

/**
 * Loads the engine's server certificate, replacing it first when it is missing, expiring, signed by
 * another CA or does not cover the configured names. Cheap (ECDSA), so done at every start.
 */
export async function ensureServerCertificate(
  ca: EngineCa,
  files: ServerCertFiles,
  names: string[],
  log?: (msg: string, fields?: Record<string, unknown>) => void,
  opts: { validityMs?: number } = {},
): Promise<KeyPair> {
  let current: KeyPair | undefined;
  if (fs.existsSync(files.serverCert) && fs.existsSync(files.serverKey)) {
    assertPrivate(files.serverKey);
    current = {
      certPem: fs.readFileSync(files.serverCert, 'utf8'),
      keyPem: fs.readFileSync(files.serverKey, 'utf8'),
    };
  }
  const decision = checkServerCertificate(ca, current, names);
  if (!decision.reissue && current) return current;
  log?.('issuing the engine server certificate', { reason: decision.reissue ? decision.reason : '', names });
  const pair = await ca.issueServerCertificate(names, undefined, opts.validityMs);
  writeSecretFile(files.serverKey, pair.keyPem);
  writePublicFile(files.serverCert, pair.certPem);
  return pair;
}

function normaliseAltName(n: string): string {
  // Node prints IPv6 SANs in full form; compare on a canonical form.
  if (isIP(n) === 6) {
    try {
      return new URL(`http://[${n}]/`).hostname;
    } catch {
      return n;
    }
  }
  return n.toLowerCase();
}
