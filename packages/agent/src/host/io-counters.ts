import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HostIoCounters } from '@vireo/agent-protocol';

/** Receive/transmit byte counters per interface, from `/proc/net/dev`. */
export function parseNetDev(text: string): Map<string, { rx: number; tx: number }> {
  const out = new Map<string, { rx: number; tx: number }>();
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const fields = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    // Receive bytes is the 1st field, transmit bytes the 9th.
    const rx = fields[0];
    const tx = fields[8];
    if (name && Number.isFinite(rx) && Number.isFinite(tx)) out.set(name, { rx: rx ?? 0, tx: tx ?? 0 });
  }
  return out;
}

/** Sectors read/written per block device, from `/proc/diskstats` (sectors are 512 bytes, always). */
export function parseDiskstats(text: string): Map<string, { readSectors: number; writtenSectors: number }> {
  const out = new Map<string, { readSectors: number; writtenSectors: number }>();
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const name = f[2] ?? '';
    const read = Number(f[5]);
    const written = Number(f[9]);
    if (name && Number.isFinite(read) && Number.isFinite(written)) {
      out.set(name, { readSectors: read, writtenSectors: written });
    }
  }
  return out;
}

/**
 * Block devices whose I/O is the host's own: whole disks only (partitions are not in /sys/block),
 * without loop, RAM, compressed-RAM, device-mapper, md RAID and optical devices — those either do
 * not touch a disk or would count the same bytes twice.
 */
export function isHostDisk(name: string): boolean {
  return !/^(loop|ram|zram|dm-|md|sr|fd)/.test(name);
}

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/**
 * Interfaces whose traffic is the host's: physical NICs (those with a `device` link). On a host
 * without any (a container, a VM with only virtual NICs) every interface except loopback, bridges,
 * taps and bridge ports counts — VM traffic through bridges is the VMs' and is graphed there.
 */
async function hostInterfaces(names: string[], sysRoot: string): Promise<string[]> {
  const net = join(sysRoot, 'class/net');
  const physical: string[] = [];
  const others: string[] = [];
  for (const name of names) {
    if (name === 'lo' || name.includes('/')) continue;
    if (await exists(join(net, name, 'device'))) physical.push(name);
    else if (
      !(await exists(join(net, name, 'bridge'))) &&
      !(await exists(join(net, name, 'tun_flags'))) &&
      !(await exists(join(net, name, 'brport')))
    ) {
      others.push(name);
    }
  }
  return physical.length > 0 ? physical : others;
}

/** The host's network and disk byte counters since boot (two small /proc reads, a few /sys stats). */
export async function readHostIo(procRoot = '/proc', sysRoot = '/sys'): Promise<HostIoCounters> {
  const [netDev, diskstats] = await Promise.all([
    readFile(join(procRoot, 'net/dev'), 'utf8'),
    readFile(join(procRoot, 'diskstats'), 'utf8'),
  ]);
  const nics = parseNetDev(netDev);
  let rx = 0;
  let tx = 0;
  for (const name of await hostInterfaces([...nics.keys()], sysRoot)) {
    rx += nics.get(name)?.rx ?? 0;
    tx += nics.get(name)?.tx ?? 0;
  }
  const disks = parseDiskstats(diskstats);
  let read = 0;
  let written = 0;
  for (const [name, d] of disks) {
    if (!isHostDisk(name) || !(await exists(join(sysRoot, 'block', name)))) continue;
    read += d.readSectors * 512;
    written += d.writtenSectors * 512;
  }
  return { net_rx_bytes: rx, net_tx_bytes: tx, disk_read_bytes: read, disk_write_bytes: written };
}
