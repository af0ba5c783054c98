import { type ChildProcess, spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { allHosts, findHost } from '../db/repositories/hosts';
import type { Db } from '../db/schema';
import { writePublicFile, writeSecretFile } from '../pki/files';
import { SYSTEM_ACTOR } from '../services/actor';
import type { HostService } from '../services/hosts';

/** The local agent's settings (all-in-one mode: `npm start`). */
export interface LocalHostOptions {
  /** Where the local agent keeps its state and TLS files (`<data>/local-agent`). */
  stateDir: string;
  port: number;
  agentBin: string;
  /** Extra `serve` arguments (e.g. `--accel tcg`). */
  serveArgs?: string[];
}

/** Where the bundled agent is: next to the engine bundle in the repository, or `VIREO_AGENT_BIN`. */
export function findAgentBinary(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.VIREO_AGENT_BIN) return env.VIREO_AGENT_BIN;
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const rel of ['../../agent/dist/vireo-agent.js', '../../../agent/dist/vireo-agent.js']) {
    const candidate = path.resolve(here, rel);
    if (fs.existsSync(candidate)) return candidate;
  }
  return undefined;
}

/**
 * The Node flags the agent bundle asks for in its shebang (the build writes the agent's
 * RECOMMENDED_NODE_FLAGS there), so the engine starts it exactly as it would start itself.
 */
export function agentNodeFlags(agentBin: string): string[] {
  const fd = fs.openSync(agentBin, 'r');
  try {
    const buf = Buffer.alloc(512);
    const n = fs.readSync(fd, buf, 0, buf.length, 0);
    const first = buf.subarray(0, n).toString('utf8').split('\n')[0] ?? '';
    const m = /^#!\/usr\/bin\/env -S node (.*)$/.exec(first);
    return m?.[1] ? m[1].split(/\s+/).filter((f) => /^--[a-z0-9-]+(=[\w.-]+)?$/.test(f)) : [];
  } finally {
    fs.closeSync(fd);
  }
}

const LOCAL_HOST_NAME = 'local';

/** The Default cluster (created by the inventory migration), or the oldest one if it was renamed. */
async function defaultClusterId(db: Db): Promise<string> {
  const rows = await db.selectFrom('clusters').select(['id', 'name']).orderBy('created_at').execute();
  const chosen = rows.find((r) => r.name === 'Default') ?? rows[0];
  if (!chosen) throw new Error('there is no cluster to add the local host to; create one first');
  return chosen.id;
}
const HOST_ID_FILE = 'engine-host-id';

/**
 * Makes this machine a host of the Default cluster: enrolls a local agent with a join token on
 * first start (its key is generated here and written 0600 into its own state directory), then runs
 * `vireo-agent serve` on 127.0.0.1 as a supervised child, restarted with backoff if it dies.
 * Stopping sends SIGTERM: the agent exits and its VMs keep running.
 */
export class LocalHost {
  private child: ChildProcess | undefined;
  private stopped = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private readonly log: Logger;

  constructor(
    private readonly deps: { db: Db; hosts: HostService; log: Logger },
    private readonly opts: LocalHostOptions,
  ) {
    this.log = deps.log.child({ module: 'engine:local-host' });
  }

  async start(): Promise<void> {
    await this.enrollIfNeeded();
    this.spawn();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      child.kill('SIGTERM');
    });
  }

  private async enrollIfNeeded(): Promise<void> {
    const tls = path.join(this.opts.stateDir, 'tls');
    const idFile = path.join(this.opts.stateDir, HOST_ID_FILE);
    const knownId = fs.existsSync(idFile) ? fs.readFileSync(idFile, 'utf8').trim() : '';
    if (knownId && fs.existsSync(path.join(tls, 'agent.pem')) && (await findHost(this.deps.db, knownId)))
      return;

    fs.mkdirSync(tls, { recursive: true, mode: 0o700 });
    const { token } = await this.deps.hosts.createJoinToken(SYSTEM_ACTOR, {
      cluster_id: await defaultClusterId(this.deps.db),
      ttl_s: 60,
    });
    const keys = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const joined = await this.deps.hosts.join(
      {
        token,
        name: await this.freeName(),
        address: '127.0.0.1',
        port: this.opts.port,
        public_key: keys.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      },
      'local',
    );
    writeSecretFile(
      path.join(tls, 'agent-key.pem'),
      keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    );
    writePublicFile(path.join(tls, 'agent.pem'), joined.certificate);
    writePublicFile(path.join(tls, 'ca.pem'), joined.ca);
    writePublicFile(idFile, `${joined.host_id}\n`);
    this.log.info({ hostId: joined.host_id }, 'this machine joined the Default cluster as a host');
  }

  /** `local`, or `local-2`… when an administrator already named another host `local`. */
  private async freeName(): Promise<string> {
    const taken = new Set((await allHosts(this.deps.db)).map((h) => h.name.toLowerCase()));
    for (let i = 1; i < 100; i++) {
      const name = i === 1 ? LOCAL_HOST_NAME : `${LOCAL_HOST_NAME}-${i}`;
      if (!taken.has(name)) return name;
    }
    return `${LOCAL_HOST_NAME}-${Date.now()}`;
  }

  private spawn(): void {
    if (this.stopped) return;
    const { agentBin, stateDir, port } = this.opts;
    const args = [
      ...agentNodeFlags(agentBin),
      agentBin,
      'serve',
      '--state-dir',
      stateDir,
      '--listen',
      `127.0.0.1:${port}`,
      ...(this.opts.serveArgs ?? []),
    ];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    const startedAt = Date.now();
    let tail = '';
    child.stderr?.setEncoding('utf8').on('data', (c: string) => {
      tail = (tail + c).slice(-4000);
    });
    child.once('exit', (code, signal) => {
      if (this.stopped) return;
      // A run that lasted a minute resets the backoff: it was a crash, not a start-up failure.
      this.failures = Date.now() - startedAt > 60_000 ? 1 : this.failures + 1;
      const delay = Math.min(30_000, 500 * 2 ** Math.min(this.failures, 6));
      this.log.warn(
        { code, signal, delayMs: delay, stderr: tail.slice(-1000) },
        'local agent exited; restarting',
      );
      this.restartTimer = setTimeout(() => this.spawn(), delay);
    });
    this.log.info({ pid: child.pid, port }, 'local agent started');
  }
}
