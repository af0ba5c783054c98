import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestNetns, type TestNetns } from './netns';

/**
 * A real NFSv3 server for tests: nfs-ganesha (VFS FSAL) and rpcbind, both inside a network
 * namespace the test creates, reachable from the root namespace over a veth pair on a private /30.
 */
export interface TestNfsServer {
  /** The server's address (the namespace end of the veth pair). */
  address: string;
  /** The export as clients mount it (`/vireo`). */
  exportPath: string;
  /** The exported directory on this machine (to look at what clients wrote). */
  dir: string;
  /** `nfs://<address><exportPath>`. */
  url: string;
  ns: TestNetns;
  /** Stops both daemons (by PID), removes the namespace, the veth pair and the temp directory. */
  stop(): Promise<void>;
}

const EXPORT_PATH = '/vireo';

/**
 * The daemons write fixed paths (/run/rpcbind*, /run/ganesha, /var/lib/nfs/ganesha). They run in a
 * private mount namespace with tmpfs over /run and /var/lib/nfs, so nothing of the host's own is
 * touched and everything they wrote vanishes with the namespace. rpcbind runs in the background of
 * the shell that then becomes ganesha (exec), so the spawned PID is ganesha's.
 */
function launchScript(dir: string): string {
  return [
    'set -e',
    'mount --make-rprivate /',
    'mount -t tmpfs -o mode=0755,size=16m vireo-nfs-run /run',
    'mkdir -p /var/lib/nfs',
    'mount -t tmpfs -o mode=0755,size=16m vireo-nfs-lib /var/lib/nfs',
    'mkdir -p /run/rpcbind /run/ganesha /var/lib/nfs/ganesha',
    'rpcbind -f -w &',
    `echo $! > ${join(dir, 'rpcbind.pid')}`,
    // rpcbind must own its socket before ganesha registers its programs.
    'i=0; while [ ! -S /run/rpcbind.sock ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done',
    `exec ganesha.nfsd -F -f ${join(dir, 'ganesha.conf')} -L ${join(dir, 'ganesha.log')} -p ${join(dir, 'ganesha.pid')} -N NIV_EVENT`,
  ].join('\n');
}

function ganeshaConfig(exportDir: string): string {
  return `NFS_CORE_PARAM {
  Protocols = 3;
  Enable_NLM = false;
  Enable_RQUOTA = false;
  Mount_Path_Pseudo = true;
}
NFSV4 { Graceless = true; }
EXPORT {
  Export_Id = 1;
  Path = ${exportDir};
  Pseudo = ${EXPORT_PATH};
  Access_Type = RW;
  Squash = No_Root_Squash;
  SecType = sys;
  Protocols = 3;
  Transports = TCP;
  # Tests also write the export directly (ISO files, crafted metadata): never serve stale
  # attributes or directory listings from the cache.
  Attr_Expiration_Time = 0;
  FSAL { Name = VFS; }
}
`;
}

function tcpOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(2000, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

function exited(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Starts the server; on any failure everything made so far is removed before the error is thrown. */
export async function startNfsServer(tag = 'nfs'): Promise<TestNfsServer> {
  const dir = await mkdtemp(join(tmpdir(), 'vireo-nfs-'));
  const exportDir = join(dir, 'export');
  let ns: TestNetns | undefined;
  let child: ChildProcess | undefined;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      if (!(await exited(child, 15_000))) {
        child.kill('SIGKILL');
        await exited(child, 5_000);
      }
    }
    const rpcbindPid = Number((await readFile(join(dir, 'rpcbind.pid'), 'utf8').catch(() => '')).trim());
    if (Number.isInteger(rpcbindPid) && rpcbindPid > 1 && pidAlive(rpcbindPid)) {
      process.kill(rpcbindPid, 'SIGTERM');
      for (let i = 0; i < 50 && pidAlive(rpcbindPid); i++) await new Promise((r) => setTimeout(r, 100));
      if (pidAlive(rpcbindPid)) process.kill(rpcbindPid, 'SIGKILL');
    }
    await ns?.remove();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await mkdir(exportDir, { mode: 0o755 });
    await writeFile(join(dir, 'ganesha.conf'), ganeshaConfig(exportDir));
    await writeFile(join(dir, 'launch.sh'), launchScript(dir));
    ns = await createTestNetns(tag);
    const out: Buffer[] = [];
    child = spawn(
      'ip',
      [
        'netns',
        'exec',
        ns.name,
        'unshare',
        '--mount',
        '--propagation',
        'private',
        'sh',
        join(dir, 'launch.sh'),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => out.push(b));
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        const log = await readFile(join(dir, 'ganesha.log'), 'utf8').catch(() => '');
        throw new Error(`nfs server exited: ${Buffer.concat(out).toString()} ${log.slice(-2000)}`);
      }
      const log = await readFile(join(dir, 'ganesha.log'), 'utf8').catch(() => '');
      if (log.includes('NFS SERVER INITIALIZED') && (await tcpOpen(ns.nsAddress, 2049))) break;
      if (Date.now() > deadline) throw new Error(`nfs server not ready after 60 s: ${log.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    address: ns.nsAddress,
    exportPath: EXPORT_PATH,
    dir: exportDir,
    url: `nfs://${ns.nsAddress}${EXPORT_PATH}`,
    ns,
    stop,
  };
}
