import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { VmInfo, VmSpec } from '@vireo/agent-protocol';
import { buildQemuArgv, validateVmSpec, type VncListen } from '../qemu/argv';
import { killQemu, launchQemu } from '../qemu/process/spawn';
import { isWrongKeyFailure, writeSecretFiles } from '../storage/volumes/encryption';
import { AgentError, toAgentError } from '../util/errors';
import { Reverter } from '../util/reverter';
import { planDiskChains, requireDiskKeys, usedDiskKeys } from './disk-chains';
import { vmPaths } from './paths';
import { refusePendingMerges } from './snapshots';
import { restoreMemoryState } from './snapshots/memory';
import { stagingPathOf } from '../storage/nfs/memory-state';
import type { VmRuntime } from './runtime';
import { makeVmDir, type RuntimeRecord, writeOwner, writeRuntime, writeSpec } from './store';
import { ensureTaps } from './taps';
import { ManagedVm } from './vm';

/**
 * `vm.start`: validate → storage → network → argv → spawn (paused, `-S`) → QMP → console password →
 * `cont`. Each step that leaves something behind registers its undo, so a failure at any point
 * leaves the host as it was: no QEMU, no tap, no port, and no state directory if this start made it.
 * Expects the VM's lock.
 */
export async function startVmLocked(
  rt: VmRuntime,
  input: VmSpec,
  console?: { password: string; valid_s: number },
  paused = false,
  secrets: Record<string, string> = {},
  restoreMemory?: string,
): Promise<VmInfo> {
  // Phase marks for the 'VM started' line: where a start's time goes (bench/engine-vms.bench.ts).
  const t0 = performance.now();
  const spec = validateVmSpec(input);
  requireDiskKeys(spec.disks, secrets);
  const existing = rt.vms.get(spec.id);
  if (existing && existing.state === 'damaged') {
    throw new AgentError('vm_damaged', `VM ${spec.id} is damaged; destroy it before starting it again`, {
      details: { vm_id: spec.id, detail: existing.detail },
    });
  }
  if (existing && existing.state !== 'down') {
    throw new AgentError('vm_exists', `VM ${spec.name} (${spec.id}) is already ${existing.state}`, {
      details: { vm_id: spec.id, state: existing.state },
    });
  }
  for (const other of rt.vms.values()) {
    if (other.id !== spec.id && other.name === spec.name) {
      throw new AgentError('vm_exists', `another VM (${other.id}) is already named ${spec.name}`, {
        details: { vm_id: other.id, name: spec.name },
      });
    }
  }

  const paths = vmPaths(rt.cfg.stateDir, spec.id);
  const vm = existing ?? new ManagedVm(spec.id, paths, spec);
  const previousSpec = vm.spec;
  // Registered before the first await, so a concurrent start with the same name sees it.
  rt.vms.set(vm.id, vm);
  vm.spec = spec;
  const log = rt.log.child({ vm_id: vm.id, vm: spec.name });
  const revert = new Reverter(log);
  const createdDir = !existsSync(paths.dir);
  try {
    rt.transition(vm, 'starting', 'starting');
    await rt.images.checkSpec(spec);
    const diskChains = await planDiskChains(rt.images, spec);
    await refusePendingMerges(spec, rt.images.remote);
    // A state on a userspace-mode nfs domain is fetched into a local staging file below (ADR 027).
    const nfsMemory =
      restoreMemory && rt.images.remote?.owns(restoreMemory)
        ? rt.images.remote.memoryState(restoreMemory, '/restore_memory/path')
        : undefined;
    let memoryState =
      restoreMemory && !nfsMemory
        ? await rt.images.checkFile(restoreMemory, '/restore_memory/path')
        : undefined;

    if (createdDir) {
      await makeVmDir(paths);
      revert.add(() => rm(paths.dir, { recursive: true, force: true }), 'remove state dir');
    } else {
      const old = await readFile(paths.spec, 'utf8').catch(() => undefined);
      if (old !== undefined) revert.add(() => writeSpec(paths, JSON.parse(old)), 'restore previous spec');
      // Leftovers of an earlier run (QEMU removes its sockets only on a clean exit).
      await Promise.all(
        [paths.qmpSocket, paths.serialSocket, paths.pidfile, paths.qemuLog].map((f) =>
          rm(f, { force: true }),
        ),
      );
    }
    if (nfsMemory) {
      const staged = stagingPathOf(paths.dir, nfsMemory);
      revert.add(() => rm(staged, { force: true }), 'remove staged memory state');
      await nfsMemory.download(staged, '/restore_memory/path');
      memoryState = staged;
    }
    await writeOwner(paths, rt.cfg.agentId);
    await writeSpec(paths, spec);

    const createdTaps = await ensureTaps(spec, revert);

    // The ports this start holds; one undo releases whichever are current.
    let vnc: VncListen | undefined;
    revert.add(() => releaseVnc(rt, vnc), 'release VNC ports');

    // Disk keys: 0600 files QEMU reads while opening the -blockdev nodes (before QMP exists),
    // removed as soon as QMP answers. Only their paths are on argv.
    const keys = await writeSecretFiles(join(paths.dir, 'secrets'), usedDiskKeys(spec.disks, secrets));
    revert.add(keys.remove, 'remove disk key files');

    const buildArgv = () =>
      buildQemuArgv({
        spec,
        secretFiles: keys.files,
        diskChains,
        accel: rt.cfg.accel,
        paths,
        ...(vnc ? { vnc } : {}),
        sandbox: rt.cfg.sandbox,
        // The agent detaches QEMU itself (launchQemu), so the full seccomp filter set applies.
        daemonize: false,
        hotplugPorts: spec.machine === 'q35' ? rt.cfg.hotplugPorts : 0,
        // Images on userspace-mode nfs domains open with QEMU's nfs driver (ADR 027).
        ...(rt.images.remote ? { nfsImages: rt.images.remote.nfsImagesOf(spec, diskChains) } : {}),
      });
    const tLaunch = performance.now();
    let launched: Awaited<ReturnType<typeof launchQemu>> | undefined;
    for (let attempt = 1; launched === undefined; attempt++) {
      if (spec.display.vnc) vnc = await allocateVnc(rt);
      const argv = buildArgv();
      log.debug({ argv }, 'launching QEMU');
      try {
        launched = await launchQemu({
          binary: rt.cfg.qemuBinary,
          // A memory restore waits for its state (migrate-incoming) instead of booting.
          argv: memoryState ? [...argv, '-incoming', 'defer'] : argv,
          pidfile: paths.pidfile,
          qmpSocket: paths.qmpSocket,
          stderrLog: paths.qemuLog,
          vmId: spec.id,
          logger: log,
        });
      } catch (err) {
        // The port probe and QEMU's own bind are not atomic: another process may take a port in
        // between. QEMU then exits before QMP, nothing of it is left, and other ports are tried.
        if (!vnc || attempt >= VNC_PORT_TRIES || !lostPortRace(err)) throw err;
        log.warn({ vnc, attempt }, 'a VNC port was taken before QEMU could bind it; trying other ports');
        const lost = vnc;
        vnc = undefined;
        releaseVnc(rt, lost);
      }
    }
    const qmp = launched.qmp;
    const tQmp = performance.now();
    await keys.remove();
    const record: RuntimeRecord = {
      pid: launched.pid,
      start_ticks: launched.startTicks,
      started_at: new Date().toISOString(),
      accel: rt.cfg.accel,
      vnc: vnc ?? null,
      created_taps: createdTaps,
      hotplug_ports: {},
    };
    vm.runtime = record;
    vm.exitReason = null;
    revert.add(async () => {
      await killQemu(launched.pid, spec.id, 1000);
      vm.runtime = null;
    }, 'kill QEMU');
    revert.add(() => qmp.close(), 'close QMP');
    await writeRuntime(paths, record);
    revert.add(() => rm(paths.runtime, { force: true }), 'remove runtime record');

    rt.attachQmp(vm, qmp);

    if (console && vnc) {
      await qmp.execute('set_password', { protocol: 'vnc', password: console.password });
      await qmp.execute('expire_password', { protocol: 'vnc', time: `+${console.valid_s}` });
    }
    if (memoryState) await restoreMemoryState(qmp, paths.dir, memoryState);
    if (nfsMemory && memoryState) await rm(memoryState, { force: true });
    if (paused) {
      rt.transition(vm, 'paused', 'paused');
    } else {
      await qmp.execute('cont');
      rt.transition(vm, 'up', 'started');
    }
    revert.success();
    const ms = {
      prepare: Math.round(tLaunch - t0),
      launch_to_qmp: Math.round(tQmp - tLaunch),
      qmp_to_running: Math.round(performance.now() - tQmp),
    };
    log.info({ pid: launched.pid, vnc, ms }, 'VM started');
    return vm.info();
  } catch (err) {
    await revert.revert();
    vm.runtime = null;
    vm.qmp = null;
    const error = isWrongKeyFailure(err)
      ? new AgentError(
          'encryption_key_invalid',
          `starting VM ${spec.name}: a disk key does not open its disk`,
          {
            cause: err,
          },
        )
      : toAgentError(err, `starting VM ${spec.name}`);
    if (createdDir) {
      rt.vms.delete(vm.id);
    } else {
      vm.spec = previousSpec;
    }
    rt.transition(vm, 'down', 'start_failed', error.message);
    throw error;
  }
}

/** Starts that lose a VNC port to another process between probe and bind are tried this often. */
const VNC_PORT_TRIES = 3;

async function allocateVnc(rt: VmRuntime): Promise<VncListen> {
  const port = await rt.ports.allocate(rt.cfg.vncPorts);
  try {
    return { display: port - 5900, websocketPort: await rt.ports.allocate(rt.cfg.vncWebsocketPorts) };
  } catch (err) {
    rt.ports.release(port);
    throw err;
  }
}

function releaseVnc(rt: VmRuntime, vnc: VncListen | undefined): void {
  if (!vnc) return;
  rt.ports.release(vnc.display + 5900);
  rt.ports.release(vnc.websocketPort);
}

/** QEMU exited because its VNC (or VNC WebSocket) listener could not bind. */
function lostPortRace(err: unknown): boolean {
  const stderr = (err as { details?: { stderr?: unknown } } | null)?.details?.stderr;
  return typeof stderr === 'string' && /vnc/i.test(stderr) && /Address already in use/i.test(stderr);
}
