import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentRpcClient } from '../src/rpc/client';
import { type AgentFixture, startTestAgent } from './support/agent';
import { guestSpec } from './support/guest';

/**
 * The VNC port probe and QEMU's own bind are not atomic: another process can take a port in
 * between. The start must then try other ports instead of failing. The race is made certain here:
 * the allocator's first answer is a port a listener of this test already holds.
 */
describe('VNC port lost between probe and QEMU bind', () => {
  let fx: AgentFixture;
  let rpc: AgentRpcClient;
  let holder: Server;
  let heldPort = 0;
  const vmId = randomUUID();

  beforeAll(async () => {
    fx = await startTestAgent();
    rpc = await fx.connect();
    holder = createServer();
    const ports = fx.agent.runtime.ports;
    const real = ports.allocate.bind(ports);
    // The first VNC display port this agent hands out: hold it, and hand it out unprobed once.
    heldPort = await real(fx.agent.runtime.cfg.vncPorts);
    ports.release(heldPort);
    await new Promise<void>((resolve) => holder.listen({ host: '127.0.0.1', port: heldPort }, resolve));
    let lied = false;
    ports.allocate = async (range) => {
      if (!lied && range === fx.agent.runtime.cfg.vncPorts) {
        lied = true;
        ports.reserve(heldPort);
        return heldPort;
      }
      return real(range);
    };
  }, 60_000);

  afterAll(async () => {
    await rpc?.call('vm.destroy', { vm_id: vmId }).catch(() => undefined);
    rpc?.close();
    await new Promise<void>((resolve) => (holder ? holder.close(() => resolve()) : resolve()));
    await fx?.dispose();
  });

  it('starts on other ports and frees the lost one', async () => {
    const { vm } = await rpc.call('vm.start', {
      spec: guestSpec(vmId, `race-${vmId.slice(0, 8)}`, { display: { vnc: true } }),
    });
    expect(vm.state).toBe('up');
    const result = await rpc.call('vm.console', { vm_id: vmId, type: 'vnc', valid_s: 30 });
    if (result.type !== 'vnc') throw new Error('expected a VNC console');
    expect(result.endpoint.port).not.toBe(heldPort);
    // The lost port is not kept reserved by the agent: once free, the next start may use it.
    await new Promise<void>((resolve) => holder.close(() => resolve()));
    const again = await fx.agent.runtime.ports.allocate(fx.agent.runtime.cfg.vncPorts);
    fx.agent.runtime.ports.release(again);
    expect(again).toBe(heldPort);
  }, 120_000);
});
