import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnAgent, stopProcess } from '../../packages/agent/test/support/binary';
import { type Platform, startPlatform, until } from '../support/platform';
import { assertTestGuestBuilt, testGuest } from '../support/test-guest';
import { killQemusOf, qemuPidsFor } from '../../packages/agent/test/support/guest';

/**
 * Crashes around running VMs, with real processes: the engine binary (embedded PostgreSQL, HTTPS),
 * an agent enrolled by join token, QEMU (TCG) booting the test guest's ISO. The agent or the engine
 * is SIGKILLed and started again; the engine must converge on the agent's truth without a second QEMU.
 */
describe('VMs through crashes (engine + agent + QEMU)', () => {
  let platform: Platform | undefined;
  let clusterId: string;
  let hostId: string;
  const vmIds: string[] = [];
  const engineEnv = {
    VIREO_HOST_HEARTBEAT_MS: '200',
    VIREO_HOST_HEARTBEAT_TIMEOUT_MS: '1000',
    VIREO_HOST_GRACE_MS: '1500',
    VIREO_ISO_DIR: testGuest.dir,
  };

  const call = (method: string, p: string, body?: unknown) =>
    (platform as Platform).api.call(method, p, body);
  const vmState = async (id: string) => (await call('GET', `/vms/${id}`)).json;
  const hostState = async () => (await call('GET', `/hosts/${hostId}`)).json.state as string;
  const createVm = async (name: string) => {
    const created = await call('POST', '/vms', {
      name,
      cluster_id: clusterId,
      cpus: 1,
      memory_mib: 128,
      boot_order: ['cdrom'],
      cdrom: { image: 'test-guest.iso' },
      nics: [{ type: 'user' }],
    });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    vmIds.push(created.json.id);
    return created.json.id as string;
  };
  const finish = async (opId: string, timeoutS = 60) =>
    (await call('GET', `/operations/${opId}?wait=${timeoutS}`)).json;

  beforeAll(async () => {
    assertTestGuestBuilt();
    platform = await startPlatform({
      prefix: 'vireo-vms-crash-',
      hostName: 'crash-host',
      engineEnv,
      agentImageDirs: [testGuest.dir],
    });
    ({ hostId } = platform);
    clusterId = platform.cluster.id;
  }, 120_000);

  afterAll(async () => {
    // Best effort: never leave a QEMU behind, whatever failed above.
    await killQemusOf(vmIds);
    await platform?.stop();
  });

  it('agent SIGKILLed under a running VM: host non_responsive and VM unknown, then both up again with the same single QEMU', async () => {
    const vmId = await createVm('crash-agent');
    const start = await call('POST', `/vms/${vmId}/start`);
    expect(start.status, JSON.stringify(start.json)).toBe(202);
    const op = await finish(start.json.operation.id);
    expect(op.state, JSON.stringify(op.error)).toBe('succeeded');
    expect((await vmState(vmId)).state).toBe('up');
    const before = await qemuPidsFor(vmId);
    expect(before).toHaveLength(1);

    await stopProcess((platform as Platform).agent.proc, 'SIGKILL');
    await until('the host non_responsive', async () =>
      (await hostState()) === 'non_responsive' ? true : undefined,
    );
    const lost = await until('the VM unknown', async () => {
      const vm = await vmState(vmId);
      return vm.state === 'unknown' ? vm : undefined;
    });
    expect(lost.host_id).toBe(hostId);
    // QEMU does not depend on the agent: the guest kept running meanwhile.
    expect(await qemuPidsFor(vmId)).toEqual(before);

    (platform as Platform).agent = await spawnAgent((platform as Platform).serveArgs);
    await until('the host up again', async () => ((await hostState()) === 'up' ? true : undefined));
    await until('the VM up again', async () => ((await vmState(vmId)).state === 'up' ? true : undefined));
    expect(await qemuPidsFor(vmId)).toEqual(before);

    const shut = await call('POST', `/vms/${vmId}/stop`);
    expect(shut.status, JSON.stringify(shut.json)).toBe(202);
    const stopped = await finish(shut.json.operation.id);
    expect(stopped.state, JSON.stringify(stopped.error)).toBe('succeeded');
    expect((await vmState(vmId)).state).toBe('down');
    await until('QEMU gone', async () => ((await qemuPidsFor(vmId)).length === 0 ? true : undefined), 15_000);
  }, 150_000);

  it('engine SIGKILLed right after a vm.start was accepted: after a restart the operation ends with a reason and the VM matches the agent', async () => {
    const vmId = await createVm('crash-engine');
    const start = await call('POST', `/vms/${vmId}/start`);
    expect(start.status, JSON.stringify(start.json)).toBe(202);
    const opId: string = start.json.operation.id;
    await (platform as Platform).restartEngine('SIGKILL');
    await until('the host up after the restart', async () =>
      (await hostState()) === 'up' ? true : undefined,
    );

    // Either the new engine claims it (still pending at the kill), or the lease sweep handles it once
    // the dead engine's lease (30 s by default) expires: vm.start is resumed, a non-resumable type fails.
    const op = await until(
      'the operation to finish',
      async () => {
        const o = (await call('GET', `/operations/${opId}`)).json;
        return o.state === 'succeeded' || o.state === 'failed' ? o : undefined;
      },
      90_000,
    );
    if (op.state === 'failed') expect(op.error.code, JSON.stringify(op.error)).toMatch(/^[a-z_]+$/);

    // The agent's truth: QEMU runs or it does not; the engine's view must settle on the same.
    await until(
      'the VM state to match QEMU',
      async () => {
        const pids = await qemuPidsFor(vmId);
        const state = (await vmState(vmId)).state;
        if (pids.length > 1) throw new Error(`two QEMUs for ${vmId}: ${pids.join(', ')}`);
        if (pids.length === 1 && state === 'up') return true;
        if (pids.length === 0 && state === 'down') return true;
        return undefined;
      },
      30_000,
    );
    expect((await qemuPidsFor(vmId)).length).toBeLessThanOrEqual(1);

    if ((await qemuPidsFor(vmId)).length === 1) {
      const stop = await call('POST', `/vms/${vmId}/stop`);
      expect(stop.status, JSON.stringify(stop.json)).toBe(202);
      expect((await finish(stop.json.operation.id)).state).toBe('succeeded');
      await until(
        'QEMU gone',
        async () => ((await qemuPidsFor(vmId)).length === 0 ? true : undefined),
        15_000,
      );
    }
  }, 200_000);
});
