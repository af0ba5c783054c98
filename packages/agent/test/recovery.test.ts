import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config';
import { startAgent } from '../src/cli/serve';
import { isProcessRunning } from '../src/qemu/process/proc';
import { silentLogger } from '../src/util/log';
import { type AgentFixture, startTestAgent } from './support/agent';
import { guestSpec, killQemusOf, qemuPidsFor } from './support/guest';

const DAMAGED = '7c000000-0000-4000-8000-000000000001';
const DIED = '7c000000-0000-4000-8000-000000000002';
const SHUT = '7c000000-0000-4000-8000-000000000003';
const EXTERNAL_UUID = '7c000000-0000-4000-8000-0000000000ee';

/**
 * What a restarted agent makes of its state directory: a QEMU that died meanwhile, a state
 * directory it can no longer trust, a QEMU that is not its own, and a second agent on the same
 * directory. (Re-adopting healthy VMs across a SIGKILL is the e2e test's subject.)
 */
describe('agent recovery', () => {
  let fx: AgentFixture;
  let external: ChildProcess | undefined;

  beforeAll(async () => {
    fx = await startTestAgent();
    const rpc = await fx.connect();
    for (const [id, name] of [
      [DAMAGED, 'damaged-one'],
      [DIED, 'died-one'],
      [SHUT, 'shut-one'],
    ] as const) {
      await rpc.call('vm.start', { spec: guestSpec(id, name) });
      // Paused at once: these guests only have to exist, not to boot.
      await rpc.call('vm.pause', { vm_id: id });
    }
    rpc.close();
    // A QEMU nobody's agent started.
    external = spawn(
      'qemu-system-x86_64',
      [
        '-uuid',
        EXTERNAL_UUID,
        '-name',
        'hand-made',
        '-accel',
        'tcg',
        '-machine',
        'q35',
        '-S',
        '-display',
        'none',
        '-nodefaults',
      ],
      { stdio: 'ignore' },
    );
  });

  afterAll(async () => {
    external?.kill('SIGKILL');
    await killQemusOf([DAMAGED, DIED, SHUT]);
    await fx?.dispose();
  });

  it('reports what it finds after a restart', async () => {
    await fx.agent.close();
    // While the agent is away: one QEMU dies, one VM's state directory gets corrupted.
    const [diedPid] = await qemuPidsFor(DIED);
    process.kill(diedPid!, 'SIGKILL');
    await expect.poll(() => qemuPidsFor(DIED)).toEqual([]);
    await writeFile(join(fx.stateDir, 'vms', DAMAGED, 'spec.json'), '{"truncated": ');
    const [damagedPid] = await qemuPidsFor(DAMAGED);

    const agent = await fx.restart();
    expect(agent.recovery).toMatchObject({ paused: 1, down: 1, damaged: 1 });
    const rpc = await fx.connect();
    const { vms, external: others } = await rpc.call('vm.list', {});
    const byId = Object.fromEntries(vms.map((v) => [v.id, v]));

    expect(byId[SHUT]).toMatchObject({ state: 'paused', name: 'shut-one' });
    expect(byId[DIED]).toMatchObject({ state: 'down', reason: 'crashed', pid: null });
    expect(existsSync(join(fx.stateDir, 'vms', DIED, 'qemu.pid'))).toBe(false);
    expect(existsSync(join(fx.stateDir, 'vms', DIED, 'runtime.json'))).toBe(false);
    expect(byId[DAMAGED]).toMatchObject({ state: 'damaged', name: null, pid: damagedPid });
    expect(byId[DAMAGED]?.detail).toMatch(/spec\.json unusable/);

    // The hand-made QEMU is listed as external; our own QEMUs are not.
    expect(others.map((o) => o.uuid)).toContain(EXTERNAL_UUID);
    expect(others.find((o) => o.uuid === EXTERNAL_UUID)).toMatchObject({
      pid: external?.pid,
      name: 'hand-made',
    });
    expect(others.map((o) => o.pid)).not.toContain(damagedPid);
    rpc.close();
  });

  it('leaves a damaged VM alone', async () => {
    const rpc = await fx.connect();
    const [pid] = await qemuPidsFor(DAMAGED);
    await expect(rpc.call('vm.stop', { vm_id: DAMAGED })).rejects.toMatchObject({ code: 'vm_damaged' });
    await expect(rpc.call('vm.destroy', { vm_id: DAMAGED })).rejects.toMatchObject({ code: 'vm_damaged' });
    expect(await isProcessRunning(pid!)).toBe(true);
    // Once a person ended its QEMU, destroying the leftovers is allowed.
    process.kill(pid!, 'SIGKILL');
    await expect.poll(() => qemuPidsFor(DAMAGED)).toEqual([]);
    await rpc.call('vm.destroy', { vm_id: DAMAGED });
    expect(existsSync(join(fx.stateDir, 'vms', DAMAGED))).toBe(false);
    rpc.close();
  });

  it('keeps a second agent off the same state directory', async () => {
    const config = loadConfig({ 'state-dir': fx.stateDir, listen: '127.0.0.1:0', accel: 'tcg' }, {});
    await expect(startAgent(config, silentLogger())).rejects.toThrow(/another vireo-agent/);
    // The first one still answers and still owns its VM.
    const rpc = await fx.connect();
    expect((await rpc.call('vm.get', { vm_id: SHUT })).vm.state).toBe('paused');
    await rpc.call('vm.stop', { vm_id: SHUT });
    expect(await qemuPidsFor(SHUT)).toEqual([]);
    await rpc.call('vm.destroy', { vm_id: SHUT });
    await rpc.call('vm.destroy', { vm_id: DIED });
    rpc.close();
  });
});
