import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { VmDisk } from '@vireo/agent-protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SANDBOX_FULL } from '../src/qemu/argv';
import type { AgentRpcClient } from '../src/rpc/client';
import { type AgentFixture, recordEvents, startTestAgent } from './support/agent';
import {
  GUEST_MARKER,
  guestShell,
  guestSpec,
  killQemusOf,
  qemuPidsFor,
  testGuest,
  waitForText,
} from './support/guest';

const VM_ID = '7b000000-0000-4000-8000-000000000001';
// A tap the agent creates for the VM (persistent, IPv6 off, no address: it carries no traffic here).
const TAP = `vlt${process.pid.toString(36)}`.slice(0, 15);

/** Reads the RFB banner and the security types a VNC server offers. */
function vncHandshake(port: number): Promise<{ banner: string; securityTypes: number[] }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let buf = Buffer.alloc(0);
    let banner = '';
    socket.on('error', reject);
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      if (!banner && buf.length >= 12) {
        banner = buf.subarray(0, 12).toString('latin1');
        buf = buf.subarray(12);
        socket.write('RFB 003.008\n');
      }
      if (banner && buf.length >= 1 && buf.length >= 1 + (buf[0] ?? 0)) {
        socket.destroy();
        resolve({ banner, securityTypes: [...buf.subarray(1, 1 + (buf[0] ?? 0))] });
      }
    });
  });
}

/**
 * One test guest, booted once, driven through everything the runtime does to a running VM. The
 * guest itself is asked (over its serial console) what it sees, so a device that QEMU accepted but
 * the guest never got would fail the test.
 */
describe('VM lifecycle on a real guest', () => {
  let fx: AgentFixture;
  let rpc: AgentRpcClient;
  let events: ReturnType<typeof recordEvents>;
  let serialLog: string;
  let serialSocket: string;

  const blankDisk = async (name: string): Promise<VmDisk> => {
    const path = join(fx.imageDir, name);
    await rpc.call('image.create', { path, format: 'qcow2', size_bytes: 64 * 1024 * 1024 });
    return {
      id: name.replace(/\W/g, ''),
      path,
      format: 'qcow2',
      interface: 'virtio',
      bootable: false,
      readonly: false,
    };
  };

  beforeAll(async () => {
    fx = await startTestAgent({ statsIntervalS: 1 });
    rpc = await fx.connect({ events: true });
    events = recordEvents(rpc);
  });

  afterAll(async () => {
    await killQemusOf([VM_ID]);
    await fx?.dispose();
    if (existsSync(`/sys/class/net/${TAP}`)) execFileSync('ip', ['link', 'delete', 'dev', TAP]);
  });

  it('starts the guest and its marker appears on the serial console', async () => {
    const data = await blankDisk('data1.qcow2');
    const spec = guestSpec(VM_ID, 'lifecycle', {
      display: { vnc: true },
      disks: [data],
      // An empty SCSI CD drive: media come and go at run time.
      cdrom: { path: null, interface: 'scsi' },
      nics: [{ id: 'n1', mac: '52:54:00:7b:00:01', model: 'virtio', backend: { type: 'tap', ifname: TAP } }],
    });
    const { vm } = await rpc.call('vm.start', { spec });
    expect(vm).toMatchObject({ id: VM_ID, state: 'up', reason: 'started' });
    expect(await qemuPidsFor(VM_ID)).toEqual([vm.pid]);
    // QEMU runs detached (its own session) under the full seccomp filter set.
    const cmdline = (await readFile(`/proc/${vm.pid}/cmdline`, 'utf8')).split('\0');
    expect(cmdline[cmdline.indexOf('-sandbox') + 1]).toBe(SANDBOX_FULL);
    expect(cmdline).not.toContain('-daemonize');
    expect(await readFile(`/proc/${vm.pid}/status`, 'utf8')).toMatch(/^Seccomp:\s+2$/m);
    const stat = await readFile(`/proc/${vm.pid}/stat`, 'utf8');
    expect(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3])).toBe(vm.pid);
    serialLog = vm.serial!.log;
    serialSocket = vm.serial!.socket;
    await waitForText(serialLog, GUEST_MARKER, 60_000);
    const states = events.filter((e) => e.name === 'vm.state').map((e) => e.params.state);
    expect(states).toEqual(['starting', 'up']);
    // The disk and the NIC reached the guest; the agent made the tap.
    expect((await guestShell(serialSocket, 'ls /sys/block')).split(/\s+/)).toContain('vda');
    expect(await guestShell(serialSocket, 'cat /sys/class/net/eth0/address')).toContain('52:54:00:7b:00:01');
    expect(existsSync(`/sys/class/net/${TAP}`)).toBe(true);
  });

  it('reports the spec and the console endpoints', async () => {
    const { vm, spec } = await rpc.call('vm.get', { vm_id: VM_ID });
    expect(spec?.name).toBe('lifecycle');
    expect(vm.vnc?.host).toBe('127.0.0.1');
    const result = await rpc.call('vm.console', { vm_id: VM_ID, type: 'vnc', valid_s: 30 });
    if (result.type !== 'vnc') throw new Error('expected a VNC console');
    expect(result.password).toMatch(/^[A-Za-z0-9]{8}$/);
    expect(Date.parse(result.expires_at) - Date.now()).toBeGreaterThan(20_000);
    // A real VNC server on loopback that demands VNC authentication (security type 2).
    const hello = await vncHandshake(result.endpoint.port);
    expect(hello.banner).toMatch(/^RFB 003\.00\d\n$/);
    expect(hello.securityTypes).toEqual([2]);
    const serial = await rpc.call('vm.console', { vm_id: VM_ID, type: 'serial' });
    expect(serial).toEqual({ type: 'serial', endpoint: { socket: serialSocket, log: serialLog } });
  });

  it('pauses and resumes', async () => {
    expect((await rpc.call('vm.pause', { vm_id: VM_ID })).vm.state).toBe('paused');
    expect((await rpc.call('vm.resume', { vm_id: VM_ID })).vm).toMatchObject({
      state: 'up',
      reason: 'resumed',
    });
    expect(await guestShell(serialSocket, 'echo alive')).toContain('alive');
  });

  it('inserts and ejects a CD at run time', async () => {
    await rpc.call('vm.change_cd', { vm_id: VM_ID, path: testGuest().iso });
    // The guest reads the ISO's first sector: an ISO 9660 volume descriptor at 32 KiB.
    const read = 'dd if=/dev/sr0 bs=2048 skip=16 count=1 2>/dev/null | head -c 6 | tail -c 5';
    await expect
      .poll(() => guestShell(serialSocket, read), { timeout: 15_000, interval: 500 })
      .toContain('CD001');
    const { spec } = await rpc.call('vm.get', { vm_id: VM_ID });
    expect(spec?.cdrom?.path).toBe(testGuest().iso);
    await rpc.call('vm.change_cd', { vm_id: VM_ID, path: null });
    await expect
      .poll(() => guestShell(serialSocket, `${read}; echo "rc=$?"`), { timeout: 15_000, interval: 500 })
      .not.toContain('CD001');
  });

  it('hot-plugs and unplugs a disk the guest sees come and go', async () => {
    const extra = await blankDisk('hot1.qcow2');
    await rpc.call('vm.attach_disk', { vm_id: VM_ID, disk: extra });
    await expect
      .poll(async () => (await guestShell(serialSocket, 'ls /sys/block')).split(/\s+/), {
        timeout: 20_000,
        interval: 500,
      })
      .toContain('vdb');
    expect((await rpc.call('vm.get', { vm_id: VM_ID })).spec?.disks.map((d) => d.id)).toEqual([
      'data1qcow2',
      'hot1qcow2',
    ]);
    await rpc.call('vm.detach_disk', { vm_id: VM_ID, disk_id: extra.id });
    expect((await guestShell(serialSocket, 'ls /sys/block')).split(/\s+/)).not.toContain('vdb');
    expect((await rpc.call('vm.get', { vm_id: VM_ID })).spec?.disks.map((d) => d.id)).toEqual(['data1qcow2']);
  }, 60_000);

  it('streams stats of the running VM', async () => {
    await expect
      .poll(() => events.filter((e) => e.name === 'vm.stats').length, { timeout: 5_000 })
      .toBeGreaterThan(0);
    const last = events.filter((e) => e.name === 'vm.stats').at(-1)!.params as {
      vms: {
        vm_id: string;
        cpu_time_ms: number;
        rss_bytes: number;
        block: { device: string }[];
        nics: { ifname: string }[];
      }[];
    };
    const sample = last.vms.find((v) => v.vm_id === VM_ID);
    expect(sample?.cpu_time_ms).toBeGreaterThan(0);
    expect(sample?.rss_bytes).toBeGreaterThan(10 * 1024 * 1024);
    expect(sample?.block.map((b) => b.device)).toContain('disk-data1qcow2');
    expect(sample?.nics.map((n) => n.ifname)).toEqual([TAP]);
  });

  it('reboots gracefully: the guest shuts down and boots again in the same QEMU', async () => {
    const [pid] = await qemuPidsFor(VM_ID);
    const { vm } = await rpc.call('vm.reboot', { vm_id: VM_ID, timeout_s: 30 });
    expect(vm).toMatchObject({ state: 'up', reason: 'rebooted', pid });
    await waitForText(serialLog, GUEST_MARKER, 60_000, 2);
    expect(await qemuPidsFor(VM_ID)).toEqual([pid]);
  });

  it('refuses a second action while one is under way; power off cancels a waiting shutdown', async () => {
    // A guest that ignores the power button keeps vm.shutdown waiting (and holding the VM's lock).
    await guestShell(serialSocket, 'killall acpid; echo acpid-gone');
    const shutdown = rpc.call('vm.shutdown', { vm_id: VM_ID, timeout_s: 120 }).catch((e) => e);
    await expect.poll(() => fx.agent.runtime.lock.holder(VM_ID)).toBe('vm.shutdown');
    await expect(rpc.call('vm.pause', { vm_id: VM_ID })).rejects.toMatchObject({
      code: 'vm_busy',
      details: { action: 'vm.shutdown' },
    });
    expect((await rpc.call('vm.get', { vm_id: VM_ID })).vm.state).toBe('powering_down');
    const { vm } = await rpc.call('vm.stop', { vm_id: VM_ID });
    expect(vm).toMatchObject({ state: 'down', reason: 'powered_off', pid: null });
    expect(await shutdown).toMatchObject({ code: 'action_cancelled' });
    expect(await qemuPidsFor(VM_ID)).toEqual([]);
    // The tap the agent created went with the QEMU.
    expect(existsSync(`/sys/class/net/${TAP}`)).toBe(false);
    const tail = events.filter((e) => e.name === 'vm.state').slice(-2);
    expect(tail.map((e) => [e.params.state, e.params.reason])).toEqual([
      ['powering_down', 'powerdown_requested'],
      ['down', 'powered_off'],
    ]);
  });

  it('destroys the VM: its state directory goes, its disks stay', async () => {
    await rpc.call('vm.destroy', { vm_id: VM_ID });
    expect(existsSync(join(fx.stateDir, 'vms', VM_ID))).toBe(false);
    expect(existsSync(join(fx.imageDir, 'data1.qcow2'))).toBe(true);
    await expect(rpc.call('vm.get', { vm_id: VM_ID })).rejects.toMatchObject({ code: 'vm_not_found' });
  });
});
