import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentRpcClient } from '../src/rpc/client';
import { type AgentFixture, startTestAgent } from './support/agent';
import { guestSpec, killQemusOf, qemuPidsFor } from './support/guest';

const VM_ID = '7c000000-0000-4000-8000-0000000000c1';

/** `/proc/PID/stat` state and parent, or undefined once the process is gone (reaped). */
async function procState(pid: number): Promise<{ state: string; ppid: number; session: number } | undefined> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0]!, ppid: Number(fields[1]), session: Number(fields[3]) };
}

/**
 * The agent launches QEMU itself (no -daemonize): while the agent lives, QEMU is its child, and
 * one that dies must be reaped, not left a zombie.
 */
describe('QEMU as the agent child', () => {
  let fx: AgentFixture;
  let rpc: AgentRpcClient;

  beforeAll(async () => {
    fx = await startTestAgent();
    rpc = await fx.connect();
  });
  afterAll(async () => {
    await killQemusOf([VM_ID]);
    await fx?.dispose();
  });

  it('is the agent child in its own session, and is reaped when it dies', async () => {
    const { vm } = await rpc.call('vm.start', { spec: guestSpec(VM_ID, 'child'), paused: true });
    const pid = vm.pid!;
    // Its own session: a signal to the agent's process group or terminal does not reach it.
    expect(await procState(pid)).toMatchObject({ ppid: process.pid, session: pid });
    process.kill(pid, 'SIGKILL');
    await expect.poll(() => procState(pid), { timeout: 10_000 }).toBeUndefined();
    expect(await qemuPidsFor(VM_ID)).toEqual([]);
    await expect
      .poll(async () => (await rpc.call('vm.get', { vm_id: VM_ID })).vm.state, { timeout: 10_000 })
      .toBe('down');
    await rpc.call('vm.destroy', { vm_id: VM_ID });
  });
});
