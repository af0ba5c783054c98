/**
 * Test support: turns a golden launch plan into one this machine can really start (TCG, scratch
 * images in a temp dir, free loopback ports, taps inside a throw-away network namespace), launches
 * it with the real `qemu-system-x86_64`, and tears everything down again.
 */
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { VmSpec } from '@vireo/agent-protocol';
import { buildQemuArgv, type LaunchPlan } from '../../src/qemu/argv/index';
import { QmpClient } from '../../src/qemu/qmp/index';
import { createImage } from '../../src/storage/index';

const run = promisify(execFile);

/** The test guest's kernel and initrd, built by scripts/build-test-guest.sh before the suite runs. */
export const TEST_GUEST_DIR = new URL('../../../../.cache/test-guest/', import.meta.url).pathname;

export interface Launched {
  plan: LaunchPlan;
  argv: string[];
  qmp: QmpClient;
  pid: number;
  /** Quits QEMU (or kills it), removes loop devices and the namespace. Never throws. */
  cleanup(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** Rewrites a golden plan so every path lives under `dir` and every resource exists. */
export async function makeLaunchable(
  golden: LaunchPlan,
  dir: string,
  undo: (() => Promise<void>)[],
): Promise<LaunchPlan> {
  const spec: VmSpec = structuredClone(golden.spec);
  const plan: LaunchPlan = { ...structuredClone(golden), spec, accel: 'tcg' };
  if (spec.cpu.model === 'host') spec.cpu.model = 'max';

  // Keep the golden's file names (commas included) so escaping is exercised for real.
  const runDir = join(dir, golden.paths.qmpSocket.includes(',') ? 'run,dir' : 'run');
  mkdirSync(runDir, { recursive: true });
  plan.paths = {
    qmpSocket: join(runDir, 'qmp.sock'),
    serialSocket: join(runDir, 'serial.sock'),
    serialLog: join(runDir, 'serial.log'),
    pidfile: join(runDir, 'qemu.pid'),
    ...(golden.paths.vncSocket ? { vncSocket: join(runDir, 'vnc.sock') } : {}),
  };

  const images = join(dir, 'images');
  mkdirSync(images, { recursive: true });
  const secrets = join(dir, 'secrets');
  mkdirSync(secrets, { recursive: true, mode: 0o700 });
  if (golden.secretFiles) {
    plan.secretFiles = {};
    for (const id of Object.keys(golden.secretFiles)) {
      const file = join(secrets, id);
      // One passphrase for all: a single LUKS image (key derivation benchmarking costs ~1 s of
      // CPU per create) can then be copied for every encrypted disk.
      writeFileSync(file, 'golden-test-passphrase', { mode: 0o600 });
      plan.secretFiles[id] = file;
    }
  }

  let firstEncrypted: string | undefined;
  for (const [i, disk] of spec.disks.entries()) {
    if (disk.path.startsWith('/dev/')) {
      const backing = join(images, `${i}-loop.img`);
      writeFileSync(backing, '');
      await run('truncate', ['-s', '16M', backing]);
      const { stdout } = await run('losetup', ['--find', '--show', backing]);
      const device = stdout.trim();
      undo.push(async () => {
        await run('losetup', ['-d', device]).catch(() => undefined);
      });
      disk.path = device;
      continue;
    }
    const chain = golden.diskChains?.[disk.id];
    if (chain) {
      // Each layer keeps its directory name, so "own directory" vs "template's" survives the move.
      // QEMU follows the explicit backing nodes, not the headers, so standalone images do.
      const layers = chain.map((layer) => ({
        ...layer,
        path: join(images, String(i), basename(dirname(layer.path)), basename(layer.path)),
      }));
      for (const layer of layers) {
        mkdirSync(dirname(layer.path), { recursive: true });
        if (layer.secretId && firstEncrypted) {
          copyFileSync(firstEncrypted, layer.path);
          continue;
        }
        const secretFile = layer.secretId ? plan.secretFiles?.[layer.secretId] : undefined;
        await createImage({
          path: layer.path,
          format: layer.format,
          sizeBytes: 16 * 1024 * 1024,
          ...(secretFile ? { encryption: { secretFile, iterTimeMs: 100 } } : {}),
        });
        if (secretFile) firstEncrypted = layer.path;
      }
      plan.diskChains = { ...plan.diskChains, [disk.id]: layers };
      disk.path = layers[0]?.path ?? disk.path;
      continue;
    }
    disk.path = join(images, `${i}-${basename(disk.path)}`);
    if (disk.encryption_secret_id && firstEncrypted) {
      copyFileSync(firstEncrypted, disk.path);
      continue;
    }
    if (disk.encryption_secret_id) firstEncrypted = disk.path;
    const secretFile = disk.encryption_secret_id ? plan.secretFiles?.[disk.encryption_secret_id] : undefined;
    await createImage({
      path: disk.path,
      format: disk.format,
      sizeBytes: 16 * 1024 * 1024,
      // Short key derivation keeps the test fast; production images use QEMU's default.
      ...(secretFile ? { encryption: { secretFile, iterTimeMs: 100 } } : {}),
    });
  }
  if (spec.cdrom?.path) {
    spec.cdrom.path = join(images, `cd-${basename(spec.cdrom.path)}`);
    writeFileSync(spec.cdrom.path, Buffer.alloc(2048 * 16));
  }
  if (spec.kernel) {
    spec.kernel.kernel = join(TEST_GUEST_DIR, 'vmlinuz');
    if (spec.kernel.initrd) spec.kernel.initrd = join(TEST_GUEST_DIR, 'initrd.img');
    if (!existsSync(spec.kernel.kernel)) {
      throw new Error(`test guest kernel missing at ${spec.kernel.kernel}: run scripts/build-test-guest.sh`);
    }
  }
  if (golden.vnc) {
    plan.vnc = { display: (await freePort()) - 5900, websocketPort: await freePort() };
  }
  if (golden.incoming?.startsWith('tcp:')) plan.incoming = `tcp:127.0.0.1:${await freePort()}`;
  return plan;
}

/** Waits until `pid` is gone or a zombie (a daemonized QEMU is re-parented and may linger unreaped). */
async function waitGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return true;
    }
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return false;
}

/**
 * Launches the golden plan for real, paused (`-S`), and connects QMP. Tap NICs run QEMU inside a
 * network namespace created for this launch, so no interface ever appears on the host.
 */
export async function launchGolden(golden: LaunchPlan, dir: string): Promise<Launched> {
  const undo: (() => Promise<void>)[] = [];
  let pid = 0;
  let qmp: QmpClient | undefined;
  const cleanup = async () => {
    await qmp?.execute('quit').catch(() => undefined);
    await qmp?.close().catch(() => undefined);
    if (pid && !(await waitGone(pid, 3_000))) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
      await waitGone(pid, 3_000);
    }
    for (const step of undo.reverse()) await step();
  };
  try {
    const plan = await makeLaunchable(golden, dir, undo);
    const argv = buildQemuArgv(plan);
    let command = 'qemu-system-x86_64';
    let args = argv;
    if (plan.spec.nics.some((n) => n.backend.type === 'tap')) {
      const ns = `vireo-aq-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
      await run('ip', ['netns', 'add', ns]);
      undo.push(async () => {
        await run('ip', ['netns', 'delete', ns]).catch(() => undefined);
      });
      command = 'ip';
      args = ['netns', 'exec', ns, 'qemu-system-x86_64', ...argv];
    }
    if (plan.daemonize === false) {
      const child = spawn(command, args, { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr?.on('data', (chunk) => {
        stderr += chunk;
      });
      child.unref();
      pid = child.pid ?? 0;
      qmp = await QmpClient.connect(plan.paths.qmpSocket, { timeoutMs: 10_000, waitForSocket: true }).catch(
        (error) => {
          throw new Error(`QEMU did not come up: ${stderr}`, { cause: error });
        },
      );
    } else {
      // A daemonizing QEMU returns once it is initialised (or failed), with errors on stderr.
      await run(command, args).catch((error: { stderr?: string }) => {
        throw new Error(`QEMU refused the argv: ${error.stderr}`, { cause: error });
      });
      pid = Number(readFileSync(plan.paths.pidfile, 'utf8').trim());
      qmp = await QmpClient.connect(plan.paths.qmpSocket, { timeoutMs: 10_000 });
    }
    return { plan, argv, qmp, pid, cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/** Removes a temp dir, tolerating leftovers QEMU may still be closing. */
export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
