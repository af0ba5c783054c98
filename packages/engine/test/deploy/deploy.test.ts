import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { lstat, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { createCa, issueCertificate, type KeyPair } from '@vireo/pki';
import pino from 'pino';
import { Agent, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentRpcClient } from '../../../agent/src/rpc/client';
import { ensureAgentBinary } from '../../../agent/test/support/binary';
import { REPO_ROOT } from '../../../agent/test/support/guest';
import { startEngine } from '../../../../test/support/engine';
import { createTestNetns, type TestNetns } from '../../../../test/support/netns';
import {
  type AgentPayload,
  agentPayloadFor,
  createAgentPayload,
  DeployFailure,
  type DeployOptions,
  type DeployPaths,
  deployHost,
} from '../../src/hosts/deploy';
import { startSshd, type TestSshd } from './sshd';

// One namespace, one sshd and one payload for every case: each case deploys into its own paths.
let ns: TestNetns;
let sshd: TestSshd;
let dir: string;
let agentBin: string;
let payload: AgentPayload;
let linkedPayload: AgentPayload;
let ca: KeyPair;
let agentTls: KeyPair;
let engineTls: KeyPair;
const started: string[] = [];

const log = pino({ level: 'silent' });

function pathsIn(root: string, osRelease = '/etc/os-release'): DeployPaths {
  return {
    installDir: join(root, 'opt'),
    configDir: join(root, 'etc'),
    stateDir: join(root, 'state'),
    runDir: join(root, 'run'),
    osRelease,
    systemdUnit: join(root, 'vireo-agent.service'),
  };
}

function options(paths: DeployPaths, extra: Partial<DeployOptions> = {}): DeployOptions {
  return {
    log,
    payload,
    enrollment: { tls: { caPem: ca.certPem, certPem: agentTls.certPem, keyPem: agentTls.keyPem } },
    agent: { accel: 'tcg', logLevel: 'warn' },
    paths,
    // This machine has no running systemd; the supervised process is what runs here.
    service: 'process',
    node: process.execPath,
    ...extra,
  };
}

/** True while `pid` runs (a zombie left to a non-reaping PID 1 does not count). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** True while any live process belongs to process group `pgid`. */
function groupAlive(pgid: number): boolean {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] !== 'Z' && Number(fields[2]) === pgid) return true;
    } catch {
      // exited while we looked
    }
  }
  return false;
}

async function deployFailure(promise: Promise<unknown>): Promise<DeployFailure> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DeployFailure);
  return err as DeployFailure;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vireo-deploy-'));
  ns = await createTestNetns('ssh');
  sshd = await startSshd(ns, dir);
  // The real deploy ships a self-contained payload; the other cases reuse a lighter one that
  // links this machine's node_modules (the namespace shares the filesystem).
  agentBin = await ensureAgentBinary();
  payload = await agentPayloadFor({ agentBin, cacheDir: join(dir, 'payloads') });
  linkedPayload = await createAgentPayload({
    agentDist: dirname(agentBin),
    nodeModules: { path: join(REPO_ROOT, 'node_modules'), link: true },
    outFile: join(dir, 'agent-linked.tar.gz'),
  });
  ca = await createCa({ commonName: 'deploy test CA', organization: 'Vireo', validityDays: 1 });
  agentTls = await issueCertificate({
    ca,
    commonName: 'host-1',
    altNames: [ns.nsAddress],
    usage: 'server+client',
  });
  engineTls = await issueCertificate({ ca, commonName: 'engine', usage: 'client' });
}, 120_000);

afterAll(async () => {
  // The supervisor leads its own process group: ending the group ends the agent with it. Wait for
  // the group to be gone so no agent still writes into the directory removed below.
  for (const pidfile of started) {
    const pgid = Number((await readFile(pidfile, 'utf8').catch(() => '')).trim());
    if (pgid > 0) {
      try {
        process.kill(-pgid, 'SIGTERM');
      } catch {
        // already gone
      }
      for (let i = 0; i < 50 && groupAlive(pgid); i++) await new Promise((r) => setTimeout(r, 100));
    }
  }
  await sshd?.stop();
  await ns?.remove();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('deployHost over SSH to a real sshd in a network namespace', () => {
  it('installs, configures and starts the agent, which then answers over mTLS', async () => {
    const root = join(dir, 'ok');
    const paths = pathsIn(root);
    const result = await deployHost(
      {
        address: sshd.address,
        port: sshd.port,
        user: 'root',
        auth: { privateKey: sshd.clientKey },
        hostKey: { sha256: sshd.hostKeySha256 },
      },
      options(paths),
    );
    const pidfile = join(paths.runDir, 'vireo-agent.pid');
    started.push(pidfile);
    expect(result.hostKey.sha256).toBe(sshd.hostKeySha256);
    expect(result.service).toBe('process');
    expect(result.os).toMatch(/Debian GNU\/Linux 12/);
    expect(['kvm', 'tcg']).toContain(result.virtualization);
    expect(result.agentAddress).toBe(`${ns.nsAddress}:54321`);

    // Secrets are files with mode 0600 and never in the log.
    expect((await stat(join(paths.configDir, 'tls', 'agent-key.pem'))).mode & 0o777).toBe(0o600);
    const text = JSON.stringify(result.log);
    expect(text).not.toContain('PRIVATE KEY');
    for (const line of result.log) expect(Date.parse(line.at)).not.toBeNaN();

    // Self-contained: the agent runs from copied packages, not from this repository's node_modules.
    expect((await lstat(join(paths.installDir, 'node_modules'))).isDirectory()).toBe(true);
    expect(existsSync(join(paths.installDir, 'node_modules', 'pino', 'package.json'))).toBe(true);

    const pid = Number((await readFile(pidfile, 'utf8')).trim());
    expect(alive(pid)).toBe(true);

    // The engine's side of the connection: mTLS with the CA's client certificate, to the namespace.
    const client = await AgentRpcClient.connect({
      address: result.agentAddress,
      ca: ca.certPem,
      cert: engineTls.certPem,
      key: engineTls.keyPem,
      client: 'deploy-test',
      timeoutMs: 10_000,
    });
    try {
      const caps = await client.call('host.capabilities', {});
      expect(caps).toBeTypeOf('object');
    } finally {
      client.close();
    }
  }, 45_000);

  it('enrolls by join token with a real engine: the key is made on the host and the host goes up', async () => {
    const engine = await startEngine({
      env: { VIREO_LISTEN: `${ns.hostAddress}:0`, VIREO_HOST_HEARTBEAT_MS: '200', VIREO_LOCAL_HOST: '0' },
    });
    const dispatcher = new Agent({ connect: { ca: engine.caPem } });
    try {
      const call = async (method: string, path: string, body?: unknown, token?: string) => {
        const res = await fetch(`${engine.url}/api/v1${path}`, {
          method,
          headers: {
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
            ...(token ? { authorization: `Bearer ${token}` } : {}),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
          dispatcher,
        });
        // biome-ignore lint/suspicious/noExplicitAny: JSON answers, checked by the assertions
        return (await res.json()) as any;
      };
      const { token } = await call('POST', '/auth/login', {
        username: 'admin@internal',
        password: engine.adminPassword,
      });
      const clusters = await call('GET', '/clusters', undefined, token);
      const clusterId = clusters.items.find((c: { name: string }) => c.name === 'Default').id;
      const joinToken = await call('POST', '/hosts/join-tokens', { cluster_id: clusterId }, token);
      expect(joinToken.token).toBeTypeOf('string');

      const paths = pathsIn(join(dir, 'join'));
      const result = await deployHost(
        {
          address: sshd.address,
          user: 'root',
          auth: { privateKey: sshd.clientKey },
          hostKey: { sha256: sshd.hostKeySha256 },
        },
        options(paths, {
          payload: linkedPayload,
          enrollment: {
            join: { engineUrl: engine.url, token: joinToken.token, caPem: engine.caPem, name: 'ns-host' },
          },
          agent: { accel: 'tcg', listen: `${ns.nsAddress}:54323` },
        }),
      );
      started.push(join(paths.runDir, 'vireo-agent.pid'));
      expect(JSON.stringify(result.log)).not.toContain(joinToken.token);
      // The single-use token is gone from the host; the key made there is private.
      expect(existsSync(join(paths.configDir, 'join-token'))).toBe(false);
      expect((await stat(join(paths.configDir, 'tls', 'agent-key.pem'))).mode & 0o777).toBe(0o600);

      const deadline = Date.now() + 20_000;
      let host: { id: string; name: string; address: string; state: string } | undefined;
      while (Date.now() < deadline) {
        const hosts = await call('GET', '/hosts', undefined, token);
        host = hosts.items.find((h: { name: string }) => h.name === 'ns-host');
        if (host?.state === 'up') break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(host).toMatchObject({
        id: result.joinedHostId,
        name: 'ns-host',
        address: ns.nsAddress,
        state: 'up',
      });
    } finally {
      await dispatcher.close();
      await engine.stop();
    }
  }, 60_000);

  it('builds the self-contained payload once per agent bundle and reuses it', async () => {
    const cacheDir = join(dir, 'payloads');
    const first = await agentPayloadFor({ agentBin, cacheDir });
    const builtAt = (await stat(first.tarball)).mtimeMs;
    const again = await agentPayloadFor({ agentBin, cacheDir });
    expect(again).toEqual(first);
    expect((await stat(again.tarball)).mtimeMs).toBe(builtAt);
    const listing = (await promisify(execFile)('tar', ['-tzf', payload.tarball], { maxBuffer: 16 << 20 }))
      .stdout;
    expect(listing).toContain('./vireo-agent.js');
    expect(listing).toContain('./node_modules/pino/package.json');
    expect(listing).toContain('./node_modules/ws/package.json');
  });

  it('refuses a host whose key differs from the pinned fingerprint', async () => {
    const root = join(dir, 'mismatch');
    const err = await deployFailure(
      deployHost(
        {
          address: sshd.address,
          user: 'root',
          auth: { privateKey: sshd.clientKey },
          hostKey: { sha256: `SHA256:${'A'.repeat(43)}` },
        },
        options(pathsIn(root)),
      ),
    );
    expect(err.code).toBe('hostkey_mismatch');
    expect(err.details.presented).toBe(sshd.hostKeySha256);
    expect(existsSync(root)).toBe(false);
  });

  it('reports a refused password as ssh_auth_failed and keeps it out of the log', async () => {
    const err = await deployFailure(
      deployHost(
        { address: sshd.address, user: 'root', auth: { password: 'wrong-Password-123' } },
        options(pathsIn(join(dir, 'pw'))),
      ),
    );
    expect(err.code).toBe('ssh_auth_failed');
    expect(JSON.stringify(err.log)).not.toContain('wrong-Password-123');
  });

  it('reports an unreachable SSH port as ssh_connect_failed', async () => {
    const err = await deployFailure(
      deployHost(
        { address: sshd.address, port: 2, user: 'root', auth: { privateKey: sshd.clientKey } },
        options(pathsIn(join(dir, 'port'))),
      ),
    );
    expect(err.code).toBe('ssh_connect_failed');
  });

  it('refuses a system that is not Debian 12 before changing anything', async () => {
    const root = join(dir, 'os');
    const osRelease = join(dir, 'os-release-ubuntu');
    await writeFile(
      osRelease,
      'NAME="Ubuntu"\nID=ubuntu\nVERSION_ID="24.04"\nPRETTY_NAME="Ubuntu 24.04 LTS"\n',
    );
    const err = await deployFailure(
      deployHost(
        { address: sshd.address, user: 'root', auth: { privateKey: sshd.clientKey } },
        options(pathsIn(root, osRelease)),
      ),
    );
    expect(err.code).toBe('unsupported_os');
    expect(err.message).toContain('Ubuntu 24.04');
    expect(existsSync(root)).toBe(false);
  });

  it('undoes every step when the agent does not come up: files, directories and the process', async () => {
    const root = join(dir, 'revert');
    const paths = pathsIn(root);
    // The namespace does not own the root side's address: the agent cannot bind it and never listens.
    const err = await deployFailure(
      deployHost(
        { address: sshd.address, user: 'root', auth: { privateKey: sshd.clientKey } },
        options(paths, {
          payload: linkedPayload,
          agent: { accel: 'tcg', listen: `${ns.hostAddress}:54322` },
          startTimeoutMs: 2_000,
        }),
      ),
    );
    started.push(join(paths.runDir, 'vireo-agent.pid'));
    expect(err.code).toBe('agent_start_failed');
    const steps = err.log.map((l) => l.message).join('\n');
    expect(steps).toContain('agent supervisor started');
    expect(steps).toContain('changes on the host were undone');
    expect(existsSync(paths.installDir)).toBe(false);
    expect(existsSync(paths.configDir)).toBe(false);
    expect(existsSync(paths.runDir)).toBe(false);
    // The agent made its state directory before failing: it goes too.
    expect(existsSync(paths.stateDir)).toBe(false);
    const pid = /agent supervisor started \(pid (\d+)/.exec(steps)?.[1];
    expect(pid).toBeDefined();
    // Neither the supervisor nor the agent it started is left running.
    expect(groupAlive(Number(pid))).toBe(false);
  });
});
