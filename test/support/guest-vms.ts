import { join } from 'node:path';
import { guestShell, qemuPidsFor, waitForText } from '../../packages/agent/test/support/guest';
import { type Json, type Platform, until } from './platform';
import { testGuest } from './test-guest';

/**
 * Test-guest VMs of a {@link Platform}, driven through the engine API and read through the serial
 * files the agent keeps for each VM (`<platform dir>/vms/<id>/serial.{log,sock}`). The VM must boot
 * the test guest (e.g. `cdrom: { image: 'test-guest.iso' }` with `boot_order: ['cdrom', 'disk']`).
 */

/**
 * Creates a VM in the platform's cluster that boots the test guest from its ISO, with one empty
 * 1 GiB disk on `storageDomainId` for the guest to write to; `extra` adds to the request (e.g.
 * `nics`). `encrypted` chooses the disk's encryption (default: the engine's
 * `disks.encrypt_by_default`). Fails unless the engine answers 201; returns the VM as written.
 */
export async function createGuestVm(
  platform: Platform,
  opts: { name: string; storageDomainId: string; memoryMib?: number; encrypted?: boolean; extra?: Json },
): Promise<Json> {
  const created = await platform.api.call('POST', '/vms', {
    name: opts.name,
    cluster_id: platform.cluster.id,
    memory_mib: opts.memoryMib ?? 256,
    boot_order: ['cdrom', 'disk'],
    cdrom: { image: 'test-guest.iso' },
    disks: [
      {
        size_gib: 1,
        storage_domain_id: opts.storageDomainId,
        ...(opts.encrypted === undefined ? {} : { encrypted: opts.encrypted }),
      },
    ],
    ...opts.extra,
  });
  if (created.status !== 201) {
    throw new Error(`creating VM ${opts.name} answered ${created.status}: ${JSON.stringify(created.json)}`);
  }
  return created.json;
}

/** The VM's serial console: the log QEMU writes and the socket the guest's shell answers on. */
export function guestSerial(platform: Platform, vmId: string): { log: string; socket: string } {
  const dir = join(platform.dir, 'vms', vmId);
  return { log: join(dir, 'serial.log'), socket: join(dir, 'serial.sock') };
}

/**
 * Starts the VM and waits until the engine reports it up and the guest printed its ready marker
 * (QEMU truncates the serial log at each start, so the marker is this boot's): its shell answers.
 */
export async function bootGuestVm(platform: Platform, vmId: string): Promise<void> {
  const { api } = platform;
  await api.settled(await api.call('POST', `/vms/${vmId}/start`), 120);
  await until('the VM up', async () => (await api.call('GET', `/vms/${vmId}`)).json.state === 'up', 120_000);
  await waitForText(guestSerial(platform, vmId).log, testGuest.marker, 120_000);
}

/** Stops the VM and waits until its QEMU process is gone and the engine reports it down. */
export async function stopGuestVm(platform: Platform, vmId: string): Promise<void> {
  const { api } = platform;
  await api.settled(await api.call('POST', `/vms/${vmId}/stop`), 120);
  await until('QEMU gone', async () => (await qemuPidsFor(vmId)).length === 0, 30_000);
  await until('the VM down', async () => (await api.call('GET', `/vms/${vmId}`)).json.state === 'down');
}

/** Writes `text` at the start of the guest's first disk (`/dev/vda`) and syncs it. */
export async function writeDiskStamp(platform: Platform, vmId: string, text: string): Promise<void> {
  await guestShell(guestSerial(platform, vmId).socket, `printf ${text} > /dev/vda; sync`, 60_000);
}

/** Reads the first `length` bytes of the guest's first disk, as the guest sees them. */
export async function readDiskStamp(platform: Platform, vmId: string, length: number): Promise<string> {
  const out = await guestShell(
    guestSerial(platform, vmId).socket,
    `dd if=/dev/vda bs=${length} count=1 2>/dev/null`,
    60_000,
  );
  return out.trim();
}
