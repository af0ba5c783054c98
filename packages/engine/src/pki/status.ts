import fs from 'node:fs';
import path from 'node:path';
import { certificateInfo } from '@vireo/pki';
import type { DataDirLayout } from '../config';
import { RENEW_BEFORE_MS } from './engine-ca';

/** One certificate as `vireo-engine pki status` reports it. */
export interface CertificateStatus {
  file: string;
  subject: string;
  notAfter: string;
  daysLeft: number;
  fingerprintSha256: string;
  altNames: string[];
  /** `ok`, `renew-soon` (renewed soon by the running engine, or at its next start), `expired`, or `missing`. */
  state: 'ok' | 'renew-soon' | 'expired' | 'missing';
}

const DAY_MS = 86_400_000;

/**
 * Reads the engine CA, its server and agent-client certificates and every host certificate (the
 * public copies under pki/hosts/) from the data directory (no private key is read).
 */
export function pkiStatus(
  paths: DataDirLayout,
  now = Date.now(),
): {
  ca: CertificateStatus;
  server: CertificateStatus;
  agentClient: CertificateStatus;
  hosts: HostCertificateStatus[];
} {
  const hostDir = path.join(paths.pkiDir, 'hosts');
  const hosts = fs.existsSync(hostDir)
    ? fs
        .readdirSync(hostDir)
        .filter((f) => /^[0-9a-f-]{36}\.pem$/.test(f))
        .sort()
        .map((f) => {
          const file = path.join(hostDir, f);
          const info = certificateInfo(fs.readFileSync(file, 'utf8'));
          // Renewed once a third of the lifetime is left (pki/renewal.ts); issue time ≈ notBefore + 5 min.
          const lifetime = info.notAfter.getTime() - info.notBefore.getTime() - 5 * 60_000;
          return { hostId: f.slice(0, 36), ...describe(file, now, lifetime / 3) };
        })
    : [];
  return {
    ca: describe(paths.caCert, now, 0),
    server: describe(paths.serverCert, now, engineRenewBefore),
    agentClient: describe(path.join(paths.pkiDir, 'engine-client.pem'), now, engineRenewBefore),
    hosts,
  };
}

/** A host certificate in `pki status`, named by the host id it was issued to. */
export interface HostCertificateStatus extends CertificateStatus {
  hostId: string;
}

/** The running engine renews its own certificates with a third of their life or 30 days left. */
function engineRenewBefore(info: { notBefore: Date; notAfter: Date }): number {
  const lifetime = info.notAfter.getTime() - info.notBefore.getTime() - 5 * 60_000;
  return Math.min(RENEW_BEFORE_MS, lifetime / 3);
}

function describe(
  file: string,
  now: number,
  renewBefore: number | ((info: { notBefore: Date; notAfter: Date }) => number),
): CertificateStatus {
  if (!fs.existsSync(file)) {
    return {
      file,
      subject: '',
      notAfter: '',
      daysLeft: 0,
      fingerprintSha256: '',
      altNames: [],
      state: 'missing',
    };
  }
  const info = certificateInfo(fs.readFileSync(file, 'utf8'));
  const left = info.notAfter.getTime() - now;
  return {
    file,
    subject: info.subject,
    notAfter: info.notAfter.toISOString(),
    daysLeft: Math.floor(left / DAY_MS),
    fingerprintSha256: info.fingerprintSha256,
    altNames: info.altNames,
    state:
      left <= 0
        ? 'expired'
        : left < (typeof renewBefore === 'number' ? renewBefore : renewBefore(info))
          ? 'renew-soon'
          : 'ok',
  };
}
