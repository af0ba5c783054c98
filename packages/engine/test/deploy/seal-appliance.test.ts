/**
 * The SSH deploy copies the template seal appliance (ADR 030) to the host: a real sshd in a network
 * namespace, the real appliance files, the real agent answering `host.capabilities` over mTLS.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createCa, issueCertificate, type KeyPair } from '@vireo/pki';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentRpcClient } from '../../../agent/src/rpc/client';
import { ensureAgentBinary } from '../../../agent/test/support/binary';
import { REPO_ROOT } from '../../../agent/test/support/guest';
import { createTestNetns, type TestNetns } from '../../../../test/support/netns';
import {
  type AgentPayload,
  createAgentPayload,
  type DeployPaths,
  type DeployResult,
  deployHost,
  findSealApplianceSource,
  installSealAppliance,
  type SealApplianceSource,
} from '../../src/hosts/deploy';
import { DeployLog } from '../../src/hosts/deploy/log';
import { sha256File } from '../../src/hosts/deploy/payload';
import { SshSession } from '../../src/hosts/deploy/ssh';
import { startSshd, type TestSshd } from './sshd';

const log = pino({ level: 'silent' });
let ns: TestNetns;
let sshd: TestSshd;
let dir: string;
let payload: AgentPayload;
let appliance: SealApplianceSource;
let ca: KeyPair;
let agentTls: KeyPair;
let engineTls: KeyPair;
const pidfiles: string[] = [];

function pathsIn(root: string): DeployPaths {
  return {
    installDir: join(root, 'opt'),
    configDir: join(root, 'etc'),
    stateDir: join(root, 'state'),
    runDir: join(root, 'run'),
    osRelease: '/etc/os-release',
    systemdUnit: join(root, 'vireo-agent.service'),
  };
}

/** True while any live process belongs to process group `pgid`. */
function groupAlive(pgid: number): boolean {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const fields = readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      if (fields[0] !== 'Z' && Number(fields[2]) === pgid) return true;
    } catch {
      // exited while we looked
    }
  }
  return false;
}

async function deploy(root: string, port: number, source?: SealApplianceSource): Promise<DeployResult> {
  const paths = pathsIn(root);
  pidfiles.push(join(paths.runDir, 'vireo-agent.pid'));
  return deployHost(
    {
      address: sshd.address,
      user: 'root',
      auth: { privateKey: sshd.clientKey },
      hostKey: { sha256: sshd.hostKeySha256 },
    },
    {
      log,
      payload,
      ...(source ? { sealAppliance: source } : {}),
      enrollment: { tls: { caPem: ca.certPem, certPem: agentTls.certPem, keyPem: agentTls.keyPem } },
      agent: { accel: 'tcg', logLevel: 'warn', listen: `${ns.nsAddress}:${port}` },
      paths,
      service: 'process',
      node: process.execPath,
    },
  );
}

/** What the deployed agent says about sealing. */
async function sealCapability(address: string): Promise<{ available: boolean; reason: string } | undefined> {
  const client = await AgentRpcClient.connect({
    address,
    ca: ca.certPem,
    cert: engineTls.certPem,
    key: engineTls.keyPem,
    client: 'seal-deploy-test',
    timeoutMs: 30_000,
  });
  try {
    return (await client.call('host.capabilities', {})).storage?.seal;
  } finally {
    client.close();
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vireo-deploy-seal-'));
  ns = await createTestNetns('sshseal');
  sshd = await startSshd(ns, dir);
  const agentBin = await ensureAgentBinary();
  // The namespace shares this filesystem: a payload linking this checkout's node_modules will do.
  payload = await createAgentPayload({
    agentDist: dirname(agentBin),
    nodeModules: { path: join(REPO_ROOT, 'node_modules'), link: true },
    outFile: join(dir, 'agent-linked.tar.gz'),
  });
  const found = await findSealApplianceSource({ near: agentBin });
  if (!found) throw new Error('seal appliance missing: run scripts/build-seal-appliance.sh');
  appliance = found;
  ca = await createCa({ commonName: 'seal deploy test CA', organization: 'Vireo', validityDays: 1 });
  agentTls = await issueCertificate({
    ca,
    commonName: 'host-s',
    altNames: [ns.nsAddress],
    usage: 'server+client',
  });
  engineTls = await issueCertificate({ ca, commonName: 'engine', usage: 'client' });
}, 120_000);

afterAll(async () => {
  for (const pidfile of pidfiles) {
    const pgid = Number((await readFile(pidfile, 'utf8').catch(() => '')).trim());
    if (pgid > 0) {
      try {
        process.kill(-pgid, 'SIGTERM');
      } catch {
        // already gone
      }
      for (let i = 0; i < 100 && groupAlive(pgid); i++) await new Promise((r) => setTimeout(r, 100));
    }
  }
  await sshd?.stop();
  await ns?.remove();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the SSH deploy and the seal appliance', { timeout: 90_000 }, () => {
  it('copies the appliance, verifies it on the host, and the agent can seal', async () => {
    const root = join(dir, 'with');
    const result = await deploy(root, 54331, appliance);
    expect(result.sealAppliance).toBe('installed');
    const sealDir = join(pathsIn(root).installDir, 'seal-appliance');
    for (const f of appliance.files) expect(await sha256File(join(sealDir, f.name))).toBe(f.sha256);
    expect(readdirSync(sealDir).sort()).toEqual(['SHA256SUMS', 'seal-appliance.initrd', 'vmlinuz']);
    const config = JSON.parse(await readFile(join(pathsIn(root).configDir, 'agent.json'), 'utf8'));
    expect(config.seal_dir).toBe(sealDir);
    expect(await sealCapability(result.agentAddress)).toEqual({
      available: true,
      reason: `seal appliance in ${sealDir}`,
    });

    // A re-deploy's appliance step over the same SSH service: nothing copied when the sums match.
    const session = await SshSession.connect({
      address: sshd.address,
      user: 'root',
      auth: { privateKey: sshd.clientKey },
      hostKey: { sha256: sshd.hostKeySha256 },
    });
    try {
      const step = (source: SealApplianceSource) =>
        installSealAppliance(session, source, sealDir, {
          log: new DeployLog(log),
          makeDir: async () => {},
        });
      const kernel = join(sealDir, 'vmlinuz');
      const before = (await stat(kernel)).mtimeMs;
      expect(await step(appliance)).toBe('unchanged');
      expect((await stat(kernel)).mtimeMs).toBe(before);

      // A file damaged on the host is copied again.
      await writeFile(kernel, 'damaged');
      expect(await step(appliance)).toBe('installed');
      expect(await sha256File(kernel)).toBe(appliance.files[0]?.sha256);

      // A copy that does not match its checksum (damaged in transit) is refused; the good files stay.
      const bogus = join(dir, 'bogus-initrd');
      await writeFile(bogus, 'not the appliance');
      const wrong: SealApplianceSource = {
        dir,
        files: appliance.files.map((f) =>
          f.name === 'seal-appliance.initrd' ? { ...f, path: bogus, sha256: 'f'.repeat(64) } : f,
        ),
      };
      await expect(step(wrong)).rejects.toMatchObject({
        code: 'agent_start_failed',
        details: { reason: 'seal_appliance_checksum' },
      });
      for (const f of appliance.files) expect(await sha256File(join(sealDir, f.name))).toBe(f.sha256);
      expect(readdirSync(sealDir).sort()).toEqual(['SHA256SUMS', 'seal-appliance.initrd', 'vmlinuz']);
    } finally {
      session.close();
    }
  });

  it('deploys a host all the same when the engine has no appliance; the host says why it cannot seal', async () => {
    const root = join(dir, 'without');
    const result = await deploy(root, 54332);
    expect(result.sealAppliance).toBe('unavailable');
    expect(result.log.map((l) => l.message).join('\n')).toContain('this host cannot seal templates');
    const seal = await sealCapability(result.agentAddress);
    expect(seal?.available).toBe(false);
    expect(seal?.reason).toContain(join(pathsIn(root).installDir, 'seal-appliance'));
    expect(seal?.reason).toContain('build-seal-appliance.sh');
  });
});
