import fs from 'node:fs';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Platform, startPlatform, until } from '../support/platform';
import { assertTestGuestBuilt, testGuest } from '../support/test-guest';
import { killQemusOf, qemuPidsFor } from '../../packages/agent/test/support/guest';

/** The argv of a VM's one QEMU process (from /proc), to see which devices it really got. */
async function qemuArgv(vmId: string): Promise<string[]> {
  const pids = await qemuPidsFor(vmId);
  expect(pids).toHaveLength(1);
  return fs.readFileSync(`/proc/${pids[0]}/cmdline`, 'utf8').split('\0');
}

/** What in QEMU's argv a VNC console brings: the listener and the VGA + xHCI + tablet devices. */
function displayDevices(argv: string[]): string[] {
  return argv.filter(
    (a, i) => a === '-vnc' || (argv[i - 1] === '-device' && /^(VGA|qemu-xhci|usb-tablet)\b/.test(a)),
  );
}

/**
 * Headless VMs (console "serial") through the real engine, agent and QEMU (TCG): the console type
 * is stored and validated, QEMU gets no display devices, VNC tickets are refused with
 * `console_unavailable` while the serial console works, and a change applies at the next start.
 */
describe('headless VMs (console "serial")', () => {
  let platform: Platform | undefined;
  const vmIds: string[] = [];
  const call = (method: string, p: string, body?: unknown, headers?: Record<string, string>) =>
    (platform as Platform).api.call(method, p, body, headers);
  const act = async (vmId: string, action: string) => {
    await (platform as Platform).api.settled(await call('POST', `/vms/${vmId}/${action}`), 120);
  };

  beforeAll(async () => {
    assertTestGuestBuilt();
    platform = await startPlatform({
      prefix: 'vireo-headless-',
      hostName: 'headless-host',
      engineEnv: { VIREO_ISO_DIR: testGuest.dir },
      agentImageDirs: [testGuest.dir],
    });
  }, 120_000);

  afterAll(async () => {
    // Kill before and after stopping the agent: a start still under way when a case failed can
    // spawn its QEMU after the first kill, but not once the agent is gone.
    await killQemusOf(vmIds);
    await platform?.stop();
    await killQemusOf(vmIds);
  });

  it('stores and validates the console type (default vnc; create, read, patch)', async () => {
    const clusterId = (platform as Platform).cluster.id;
    const plain = await call('POST', '/vms', {
      name: 'hl-default',
      cluster_id: clusterId,
      boot_order: ['cdrom'],
      cdrom: { image: 'test-guest.iso' },
    });
    expect(plain.status, JSON.stringify(plain.json)).toBe(201);
    vmIds.push(plain.json.id);
    expect(plain.json.console).toBe('vnc');

    const patched = await call('PATCH', `/vms/${plain.json.id}`, { console: 'serial' }, { 'if-match': '*' });
    expect(patched.status, JSON.stringify(patched.json)).toBe(200);
    expect(patched.json.console).toBe('serial');
    expect((await call('GET', `/vms/${plain.json.id}`)).json.console).toBe('serial');
    const listed = (await call('GET', `/vms?cluster_id=${clusterId}`)).json.items;
    expect(listed.find((v: { id: string }) => v.id === plain.json.id).console).toBe('serial');

    const bad = await call('PATCH', `/vms/${plain.json.id}`, { console: 'spice' }, { 'if-match': '*' });
    expect(bad.status).toBe(400);
    expect(bad.json.error.code).toBe('invalid_input');
    const badCreate = await call('POST', '/vms', {
      name: 'hl-bad',
      cluster_id: clusterId,
      boot_order: ['cdrom'],
      cdrom: { image: 'test-guest.iso' },
      console: 'sdl',
    });
    expect(badCreate.status).toBe(400);
    expect((await call('GET', `/vms/${plain.json.id}`)).json.console).toBe('serial');

    await (platform as Platform).api.settled(await call('DELETE', `/vms/${plain.json.id}`));
  }, 60_000);

  it('runs without display devices, refuses VNC with console_unavailable, serves the serial console, and takes a console change at the next start', async () => {
    const p = platform as Platform;
    const created = await call('POST', '/vms', {
      name: 'hl-vm',
      cluster_id: p.cluster.id,
      memory_mib: 256,
      boot_order: ['cdrom'],
      cdrom: { image: 'test-guest.iso' },
      console: 'serial',
    });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    expect(created.json.console).toBe('serial');
    const vmId: string = created.json.id;
    vmIds.push(vmId);

    await act(vmId, 'start');
    const argv = await qemuArgv(vmId);
    expect(displayDevices(argv)).toEqual([]);
    expect(argv.join(' ')).toContain('-display none');

    const vnc = await call('POST', `/vms/${vmId}/console`, { type: 'vnc' });
    expect(vnc.status, JSON.stringify(vnc.json)).toBe(409);
    expect(vnc.json.error.code).toBe('console_unavailable');
    expect(JSON.stringify(vnc.json)).not.toMatch(/ticket/i);

    // The serial console through the engine's proxy reaches the guest's shell.
    const serial = await call('POST', `/vms/${vmId}/console`, { type: 'serial' });
    expect(serial.status, JSON.stringify(serial.json)).toBe(201);
    const ws = new WebSocket(`${p.engine.url.replace(/^https:/, 'wss:')}${serial.json.ws_url}`, {
      ca: p.engine.caPem,
      perMessageDeflate: false,
    });
    let seen = '';
    ws.on('message', (d: Buffer) => {
      seen += d.toString('latin1');
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    // Poke the shell until it answers (the guest may still be booting when the socket opens).
    await until(
      'the guest shell answering on the serial console',
      async () => {
        if (seen.includes('headless-ok-42')) return true;
        ws.send(Buffer.from('\necho headless-ok-$((6*7))\n'));
        return false;
      },
      90_000,
    );
    ws.close();
    expect(fs.readFileSync(`${p.dir}/vms/${vmId}/serial.log`, 'utf8')).toContain(testGuest.marker);

    // A console change while the VM runs is stored, and waits for the next start.
    const toVnc = await call('PATCH', `/vms/${vmId}`, { console: 'vnc' }, { 'if-match': '*' });
    expect(toVnc.status, JSON.stringify(toVnc.json)).toBe(200);
    expect(toVnc.json.console).toBe('vnc');
    const still = await call('POST', `/vms/${vmId}/console`, { type: 'vnc' });
    expect(still.json.error?.code, JSON.stringify(still.json)).toBe('console_unavailable');

    await act(vmId, 'stop');
    await until('QEMU gone', async () => (await qemuPidsFor(vmId)).length === 0, 30_000);
    await act(vmId, 'start');
    expect(displayDevices(await qemuArgv(vmId)).length).toBe(4);
    const ticket = await call('POST', `/vms/${vmId}/console`, { type: 'vnc' });
    expect(ticket.status, JSON.stringify(ticket.json)).toBe(201);
    expect(ticket.json.type).toBe('vnc');

    await act(vmId, 'stop');
    await until('QEMU gone', async () => (await qemuPidsFor(vmId)).length === 0, 30_000);
    await p.api.settled(await call('DELETE', `/vms/${vmId}`));
    expect((await call('GET', `/vms/${vmId}`)).status).toBe(404);
  }, 240_000);
});
