import fs from 'node:fs';
import path from 'node:path';
import { certificateInfo } from '@vireo/pki';
import type { Logger } from 'pino';
import type { AgentHub } from '../agents/types';
import { type LeasedJob, runLeased } from '../controllers/lease';
import {
  allHosts,
  currentCertificates,
  lockHost,
  recordCertificate,
  updateHost,
} from '../db/repositories/hosts';
import type { Db } from '../db/schema';
import type { HostRow } from '../db/tables/hosts';
import type { AuditRecorder } from '../services/ports';
import type { EngineCa } from './engine-ca';
import { writePublicFile } from './files';

/** A certificate is renewed once less than this fraction of its lifetime remains. */
export const RENEW_WHEN_REMAINING_FRACTION = 1 / 3;

/**
 * Whether a certificate issued at `issuedAt` and valid until `notAfter` is due: less than a third of
 * its lifetime left. Measured from the issue time, not notBefore (which is backdated for clock skew).
 */
export function renewalDue(issuedAt: Date, notAfter: Date, now = Date.now()): boolean {
  const lifetime = notAfter.getTime() - issuedAt.getTime();
  return notAfter.getTime() - now < lifetime * RENEW_WHEN_REMAINING_FRACTION;
}

/** Directory of the public copies of host certificates, read by `vireo-engine pki status`. */
export function hostCertificateDir(pkiDir: string): string {
  return path.join(pkiDir, 'hosts');
}

/** Keeps a public copy of a host certificate where `pki status` finds it without the database. */
export function writeHostCertificateCopy(pkiDir: string, hostId: string, pem: string): void {
  const dir = hostCertificateDir(pkiDir);
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  writePublicFile(path.join(dir, `${hostId}.pem`), pem);
}

/** Drops the public copy of a removed host's certificate. */
export function removeHostCertificateCopy(pkiDir: string, hostId: string): void {
  fs.rmSync(path.join(hostCertificateDir(pkiDir), `${hostId}.pem`), { force: true });
}

export interface RenewalDeps {
  db: Db;
  agents: AgentHub;
  ca: EngineCa;
  audit: AuditRecorder;
  log: Logger;
  pkiDir: string;
  /** Validity of renewed host certificates (short in tests). */
  validityMs?: number;
}

/**
 * Renews one host's certificate over its live connection: the agent makes a new key and answers
 * the public key, the CA signs it (SAN = the host's address), the agent installs it and swaps its
 * TLS context. Open connections and VMs are not touched.
 */
export async function renewHostCertificate(deps: RenewalDeps, host: HostRow): Promise<string> {
  const { public_key } = await deps.agents.call(
    host.id,
    'agent.renew_certificate',
    {},
    { timeoutMs: 30_000 },
  );
  const pem = await deps.ca.issueHostCertificateForKey({
    hostId: host.id,
    address: host.address,
    publicKeyPem: public_key,
    ...(deps.validityMs ? { validityMs: deps.validityMs } : {}),
  });
  const info = certificateInfo(pem);
  // Recorded before it is sent: a certificate the agent may hold is never missing from the table.
  await deps.db.transaction().execute(async (tx) => {
    if (!(await lockHost(tx, host.id))) return;
    await recordCertificate(tx, {
      kind: 'host',
      subject_id: host.id,
      subject_name: host.name,
      serial: info.serial,
      not_before: info.notBefore,
      not_after: info.notAfter,
      fingerprint: info.fingerprintSha256,
    });
  });
  await deps.agents.call(host.id, 'agent.install_certificate', { certificate: pem }, { timeoutMs: 30_000 });
  await deps.db.transaction().execute(async (tx) => {
    await updateHost(tx, host.id, { certificate_serial: info.serial, certificate_not_after: info.notAfter });
    await deps.audit.record(tx, {
      kind: 'host.certificate_renewed',
      severity: 'info',
      message: `The certificate of host ${host.name} was renewed; valid until ${info.notAfter.toISOString()}`,
      object: { kind: 'host', id: host.id, name: host.name },
      details: { serial: info.serial, not_after: info.notAfter.toISOString() },
    });
  });
  writeHostCertificateCopy(deps.pkiDir, host.id, pem);
  deps.log.info(
    { hostId: host.id, serial: info.serial, notAfter: info.notAfter },
    'host certificate renewed',
  );
  return info.serial;
}

/** One pass: renews every connected host whose current certificate is due. */
export async function renewDueHostCertificates(deps: RenewalDeps, signal?: AbortSignal): Promise<number> {
  const certs = new Map(
    (await currentCertificates(deps.db)).filter((c) => c.kind === 'host').map((c) => [c.subject_id, c]),
  );
  let renewed = 0;
  for (const host of await allHosts(deps.db)) {
    if (signal?.aborted) break;
    const cert = certs.get(host.id);
    if (!cert || !renewalDue(cert.issued_at, cert.not_after) || !deps.agents.isConnected(host.id)) continue;
    try {
      await renewHostCertificate(deps, host);
      renewed++;
    } catch (err) {
      // Retried at the next pass; a third of the lifetime leaves many passes before expiry.
      deps.log.warn({ hostId: host.id, err }, 'renewing a host certificate failed');
    }
  }
  return renewed;
}

/** The leased periodic job (one engine at a time) that keeps host certificates fresh. */
export function startCertificateRenewal(deps: RenewalDeps, intervalMs: number): LeasedJob {
  return runLeased(
    deps.db,
    'pki.renew_host_certificates',
    intervalMs,
    async (signal) => {
      await renewDueHostCertificates(deps, signal);
    },
    { log: deps.log },
  );
}
