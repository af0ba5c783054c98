import { execFileSync } from 'node:child_process';
import { existsSync, readlinkSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentRpcClient } from '../src/rpc/client';
import { type AgentFixture, startTestAgent } from './support/agent';
import { guestSpec, killQemusOf, qemuPidsFor } from './support/guest';

const VM_ID = '7b000000-0000-4000-8000-0000000000b1';
const tag = process.pid.toString(36);
// Named uniquely, no addresses, IPv6 off and never up: the bridge carries no traffic at all.
const BRIDGE = `vbr${tag}`.slice(0, 15);
const TAP = `vbt${tag}`.slice(0, 15);
const MISSING_TAP = `vbm${tag}`.slice(0, 15);

const linkExists = (name: string) => existsSync(`/sys/class/net/${name}`);
/** The bridge a link is a port of (sysfs `master` link), or undefined. */
const masterOf = (name: string) => {
  try {
    return basename(readlinkSync(`/sys/class/net/${name}/master`));
  } catch {
    return undefined;
  }
};

/** NICs on an existing host bridge: the agent makes a tap, enslaves it, removes it when QEMU goes. */
describe('VM NIC on an existing bridge', () => {
  let fx: AgentFixture;
  let rpc: AgentRpcClient;

  beforeAll(async () => {
    execFileSync('ip', ['link', 'add', 'name', BRIDGE, 'type', 'bridge']);
    writeFileSync(`/proc/sys/net/ipv6/conf/${BRIDGE}/disable_ipv6`, '1');
    fx = await startTestAgent();
    rpc = await fx.connect();
  });

  afterAll(async () => {
    await killQemusOf([VM_ID]);
    await fx?.dispose();
    for (const link of [TAP, MISSING_TAP, BRIDGE]) {
      if (linkExists(link)) execFileSync('ip', ['link', 'delete', 'dev', link]);
    }
  });

  it('refuses a bridge the host does not have, with a coded error and nothing left behind', async () => {
    const spec = guestSpec(VM_ID, 'bridged', {
      nics: [
        {
          id: 'n1',
          mac: '52:54:00:7b:00:b1',
          model: 'virtio',
          backend: { type: 'tap', ifname: MISSING_TAP, bridge: `nobr${tag}`.slice(0, 15) },
        },
      ],
    });
    await expect(rpc.call('vm.start', { spec })).rejects.toMatchObject({
      code: 'bridge_not_found',
      details: { field: '/nics/0/backend/bridge' },
    });
    expect(linkExists(MISSING_TAP)).toBe(false);
    expect(await qemuPidsFor(VM_ID)).toEqual([]);
  });

  it('starts with its tap as a port of the bridge; stop removes the tap, the bridge stays', async () => {
    const spec = guestSpec(VM_ID, 'bridged', {
      nics: [
        {
          id: 'n1',
          mac: '52:54:00:7b:00:b1',
          model: 'virtio',
          backend: { type: 'tap', ifname: TAP, bridge: BRIDGE },
        },
      ],
    });
    const { vm } = await rpc.call('vm.start', { spec });
    expect(vm).toMatchObject({ id: VM_ID, state: 'up' });
    expect(masterOf(TAP)).toBe(BRIDGE);
    expect(existsSync(`/sys/class/net/${BRIDGE}/brif/${TAP}`)).toBe(true);
    // QEMU has the tap open (its queue is attached): the NIC is wired to the bridge port.
    expect(execFileSync('ip', ['-d', 'link', 'show', 'dev', TAP], { encoding: 'utf8' })).toMatch(
      /tun type tap/,
    );

    const stopped = await rpc.call('vm.stop', { vm_id: VM_ID });
    expect(stopped.vm).toMatchObject({ state: 'down', pid: null });
    expect(linkExists(TAP)).toBe(false);
    expect(linkExists(BRIDGE)).toBe(true);
    await rpc.call('vm.destroy', { vm_id: VM_ID });
  });
});
