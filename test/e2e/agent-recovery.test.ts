import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentRpcClient } from '../../packages/agent/src/rpc/client';
import {
  type AgentProcess,
  ensureAgentBinary,
  runAgentCommand,
  spawnAgent,
  stopProcess,
} from '../../packages/agent/test/support/binary';
import {
  GUEST_MARKER,
  guestSpec,
  killQemusOf,
  qemuPidsFor,
  testGuest,
  waitForText,
} from '../../packages/agent/test/support/guest';

const VMS = ['7e000000-0000-4000-8000-000000000001', '7e000000-0000-4000-8000-000000000002'];

/**
 * QEMU runs on its own: SIGKILL the agent with two guests running, start it again, and it must
 * re-adopt both (one QEMU each, no second launch) and still be able to shut them down.
 */
describe('vireo-agent binary: SIGKILL and re-adoption', () => {
  let dir: string;
  let agent: AgentProcess | undefined;
  let serveArgs: string[];

  const connect = async (address: string) => {
    const tls = join(dir, 'tls');
    return AgentRpcClient.connect({
      address,
      ca: await readFile(join(tls, 'ca.pem'), 'utf8'),
      cert: await readFile(join(tls, 'client.pem'), 'utf8'),
      key: await readFile(join(tls, 'client-key.pem'), 'utf8'),
      events: true,
    });
  };

  beforeAll(async () => {
    await ensureAgentBinary();
    dir = await mkdtemp(join(tmpdir(), 'var-'));
    await runAgentCommand(['dev-ca', '--state-dir', dir]);
    serveArgs = [
      '--state-dir',
      dir,
      '--listen',
      '127.0.0.1:0',
      '--accel',
      'tcg',
      '--image-dir',
      testGuest().dir,
    ];
  });

  afterAll(async () => {
    if (agent) await stopProcess(agent.proc, 'SIGKILL');
    await killQemusOf(VMS);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('keeps both VMs running across a SIGKILL and re-adopts them', async () => {
    agent = await spawnAgent(serveArgs);
    const rpc = await connect(agent.address);
    const started = await Promise.all(
      VMS.map((id, i) => rpc.call('vm.start', { spec: guestSpec(id, `survivor-${i}`) }).then((r) => r.vm)),
    );
    await Promise.all(started.map((vm) => waitForText(vm.serial!.log, GUEST_MARKER, 60_000)));
    const pids = started.map((vm) => vm.pid);

    expect(await stopProcess(agent.proc, 'SIGKILL')).toBe('SIGKILL');
    agent = undefined;
    for (const [i, id] of VMS.entries()) expect(await qemuPidsFor(id)).toEqual([pids[i]]);

    agent = await spawnAgent(serveArgs);
    const again = await connect(agent.address);
    const { vms } = await again.call('vm.list', { include_external: false });
    expect(vms.map((v) => [v.id, v.state, v.reason, v.pid])).toEqual(
      VMS.map((id, i) => [id, 'up', 'recovered', pids[i]]),
    );
    // Exactly one QEMU per VM: re-adopted, not launched again.
    for (const [i, id] of VMS.entries()) expect(await qemuPidsFor(id)).toEqual([pids[i]]);

    const results = await Promise.all(
      VMS.map((id) => again.call('vm.shutdown', { vm_id: id, timeout_s: 60 })),
    );
    for (const r of results)
      expect(r).toMatchObject({ forced: false, vm: { state: 'down', reason: 'guest_shutdown' } });
    for (const id of VMS) expect(await qemuPidsFor(id)).toEqual([]);
    again.close();
    expect(await stopProcess(agent.proc, 'SIGTERM')).toBe(0);
    agent = undefined;
  });
});
