import fs from 'node:fs';
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
  /** `ok`, `renew-soon` (renewed at the next start), `expired`, or `missing`. */
  state: 'ok' | 'renew-soon' | 'expired' | 'missing';
}

const DAY_MS = 86_400_000;

/** Reads the engine CA and server certificate from the data directory (no private key is read). */
export function pkiStatus(
  paths: DataDirLayout,
  now = Date.now(),
): { ca: CertificateStatus; server: CertificateStatus } {
  return { ca: describe(paths.caCert, now, 0), server: describe(paths.serverCert, now, RENEW_BEFORE_MS) };
}

function describe(file: string, now: number, renewBeforeMs: number): CertificateStatus {
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
    state: left <= 0 ? 'expired' : left < renewBeforeMs ? 'renew-soon' : 'ok',
  };
}
