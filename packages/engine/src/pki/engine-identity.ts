import { certificateInfo, type KeyPair } from '@vireo/pki';
import type { Logger } from 'pino';
import { ensureEngineClientCertificate, engineClientFiles } from '../agents/identity';
import { recordCertificate } from '../db/repositories/hosts';
import type { Db } from '../db/schema';
import type { AuditRecorder } from '../services/ports';
import { type EngineCa, ensureServerCertificate, RENEW_BEFORE_MS, type ServerCertFiles } from './engine-ca';
import { writePublicFile, writeSecretFile } from './files';

/** Environment knob: validity of the engine's own certificates (server and agent client), in ms. */
export const ENGINE_CERT_VALIDITY_ENV = 'VIREO_ENGINE_CERT_VALIDITY_MS';

/** Reads {@link ENGINE_CERT_VALIDITY_ENV}; undefined means the default (about a year). */
export function engineCertValidityFromEnv(env: NodeJS.ProcessEnv): number | undefined {
  const raw = env[ENGINE_CERT_VALIDITY_ENV];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 10_000) {
    throw new Error(`${ENGINE_CERT_VALIDITY_ENV} must be an integer of at least 10000`);
  }
  return n;
}

/** How far notBefore is backdated by @vireo/pki (clock skew between machines). */
const BACKDATE_MS = 5 * 60_000;

/**
 * Whether one of the engine's own certificates should be replaced now: less than a third of its
 * lifetime left, or less than {@link RENEW_BEFORE_MS} — for a long-lived certificate that is 30
 * days, for a short-lived one a third of it. A certificate issued for longer than the configured
 * `validityMs` (e.g. by setup, before a shorter validity was configured) is due too.
 */
export function engineCertificateDue(pem: string, now = Date.now(), validityMs?: number): boolean {
  const info = certificateInfo(pem);
  const lifetime = info.notAfter.getTime() - info.notBefore.getTime() - BACKDATE_MS;
  if (validityMs !== undefined && lifetime > validityMs + 60_000) return true;
  const left = info.notAfter.getTime() - now;
  return left < Math.min(RENEW_BEFORE_MS, lifetime / 3);
}

export type EngineCertificateKind = 'engine' | 'engine_client';

/** Where the engine's own certificate files live. */
export interface EngineIdentityPaths extends ServerCertFiles {
  pkiDir: string;
  secretsDir: string;
}

export interface EngineIdentityOptions {
  ca: EngineCa;
  paths: EngineIdentityPaths;
  /** Names the HTTPS certificate covers; undefined in plain-HTTP mode (no server certificate). */
  serverNames: string[] | undefined;
  /** Validity of newly issued certificates (short in tests); default about a year. */
  validityMs?: number;
  log: Logger;
}

/**
 * The engine's own two certificates: the HTTPS server certificate and the client certificate it
 * presents to agents. Loaded (or issued) at start, then renewed while the engine runs, well before
 * they expire: listeners swap the HTTPS server's secure context, and the agent hub reads
 * {@link EngineIdentity.clientTls} at each new connection — open connections keep the certificate
 * they authenticated with, which stays valid until its own end.
 */
export class EngineIdentity {
  private serverPair: KeyPair | undefined;
  private clientPair: KeyPair;
  private readonly listeners: Array<(pair: KeyPair) => void> = [];
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = false;

  private constructor(
    private readonly opts: EngineIdentityOptions,
    server: KeyPair | undefined,
    client: KeyPair,
  ) {
    this.serverPair = server;
    this.clientPair = client;
    this.log = opts.log.child({ module: 'engine:identity' });
  }

  /** Loads both certificates, issuing any that is missing, foreign, mismatched or due. */
  static async load(opts: EngineIdentityOptions): Promise<EngineIdentity> {
    const validity = opts.validityMs ? { validityMs: opts.validityMs } : {};
    const log = opts.log.child({ module: 'engine:identity' });
    const server = opts.serverNames
      ? await ensureServerCertificate(
          opts.ca,
          opts.paths,
          opts.serverNames,
          (msg, fields) => log.info(fields ?? {}, msg),
          validity,
        )
      : undefined;
    const client = await ensureEngineClientCertificate(opts.ca, opts.paths, Date.now(), validity);
    const identity = new EngineIdentity(opts, server, client);
    // A short validity may already be due at start (the start check only looks 30 days ahead).
    await identity.renewDue();
    return identity;
  }

  /** The HTTPS certificate now (undefined in plain-HTTP mode). */
  get server(): KeyPair | undefined {
    return this.serverPair;
  }

  /** What a new agent connection presents: the CA to trust and the current client certificate. */
  clientTls(): { ca: string; cert: string; key: string } {
    return { ca: this.opts.ca.certPem, cert: this.clientPair.certPem, key: this.clientPair.keyPem };
  }

  /** Called with the new pair each time the server certificate is renewed. Must not throw. */
  onServerRenewed(listener: (pair: KeyPair) => void): void {
    this.listeners.push(listener);
  }

  /**
   * Replaces each certificate that is due (files first, then memory and listeners). Returns the
   * kinds renewed. Safe to call concurrently with itself: one pass at a time.
   */
  async renewDue(now = Date.now()): Promise<EngineCertificateKind[]> {
    const renewed: EngineCertificateKind[] = [];
    const validity = this.opts.validityMs;
    if (
      this.serverPair &&
      this.opts.serverNames &&
      engineCertificateDue(this.serverPair.certPem, now, validity)
    ) {
      const pair = await this.opts.ca.issueServerCertificate(this.opts.serverNames, undefined, validity);
      // Key first: a crash in between leaves a mismatched pair, which the next start replaces.
      writeSecretFile(this.opts.paths.serverKey, pair.keyPem);
      writePublicFile(this.opts.paths.serverCert, pair.certPem);
      this.serverPair = pair;
      for (const l of this.listeners) l(pair);
      renewed.push('engine');
    }
    if (engineCertificateDue(this.clientPair.certPem, now, validity)) {
      const pair = await this.opts.ca.issueEngineClientCertificate('vireo-engine', validity);
      const files = engineClientFiles(this.opts.paths);
      writeSecretFile(files.key, pair.keyPem);
      writePublicFile(files.cert, pair.certPem);
      this.clientPair = pair;
      renewed.push('engine_client');
    }
    for (const kind of renewed) {
      const info = certificateInfo(
        kind === 'engine' ? (this.serverPair?.certPem ?? '') : this.clientPair.certPem,
      );
      this.log.info({ kind, serial: info.serial, notAfter: info.notAfter }, 'engine certificate renewed');
    }
    return renewed;
  }

  /** Writes the current certificates to the `certificates` table (superseding older rows). */
  async record(db: Db): Promise<void> {
    for (const kind of ['engine', 'engine_client'] as const) await this.recordOne(db, kind);
  }

  private async recordOne(db: Db, kind: EngineCertificateKind, audit?: AuditRecorder): Promise<void> {
    const pem = kind === 'engine' ? this.serverPair?.certPem : this.clientPair.certPem;
    if (!pem) return;
    const info = certificateInfo(pem);
    await db.transaction().execute(async (tx) => {
      await recordCertificate(tx, {
        kind,
        subject_id: null,
        subject_name: kind === 'engine' ? info.subject : 'vireo-engine (agent client)',
        serial: info.serial,
        not_before: info.notBefore,
        not_after: info.notAfter,
        fingerprint: info.fingerprintSha256,
      });
      const what = kind === 'engine' ? 'HTTPS server' : 'agent client';
      await audit?.record(tx, {
        kind: 'engine.certificate_renewed',
        severity: 'info',
        message: `The engine's ${what} certificate was renewed; valid until ${info.notAfter.toISOString()}`,
        details: { certificate: kind, serial: info.serial, not_after: info.notAfter.toISOString() },
      });
    });
  }

  /**
   * Checks every `intervalMs` and renews what is due, recording each renewal (table + audit
   * event). A plain timer on purpose, not a leased job: these certificates belong to this engine
   * process and its data directory, so every engine renews its own.
   */
  start(deps: { db: Db; audit: AuditRecorder }, intervalMs: number): void {
    const pass = async () => {
      try {
        for (const kind of await this.renewDue()) await this.recordOne(deps.db, kind, deps.audit);
      } catch (err) {
        // Retried at the next pass: a third of the lifetime leaves many passes before expiry.
        this.log.warn({ err }, 'renewing the engine certificates failed');
      }
    };
    this.stopped = false;
    const loop = () => {
      if (this.stopped) return;
      this.timer = setTimeout(() => {
        this.running = pass().finally(loop);
      }, intervalMs);
      this.timer.unref();
    };
    loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }
}
