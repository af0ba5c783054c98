import { access, readdir, readFile, readlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { HostNic } from '@vireo/agent-protocol';

/** `type` of the loopback device (ARPHRD_LOOPBACK): never a NIC a network can be attached to. */
const ARPHRD_LOOPBACK = 772;

/**
 * The host's network interfaces from sysfs (`/sys/class/net`), read afresh on every call: bridges
 * and taps come and go as networks and VMs do. Loopback is left out.
 */
export async function readHostNics(sysClassNet = '/sys/class/net'): Promise<HostNic[]> {
  let names: string[];
  try {
    names = await readdir(sysClassNet);
  } catch {
    return [];
  }
  const nics = await Promise.all(names.sort().map((name) => readNic(join(sysClassNet, name), name)));
  return nics.filter((nic): nic is HostNic => nic !== undefined);
}

async function readNic(dir: string, name: string): Promise<HostNic | undefined> {
  const type = Number(await readAttribute(dir, 'type'));
  // An interface removed while we read it has no attributes left: skip it.
  if (!Number.isFinite(type) || type === ARPHRD_LOOPBACK) return undefined;
  const speed = Number(await readAttribute(dir, 'speed'));
  const master = await readlink(join(dir, 'master')).catch(() => undefined);
  return {
    name,
    mac: (await readAttribute(dir, 'address')) ?? '',
    mtu: Number(await readAttribute(dir, 'mtu')) || 0,
    operstate: (await readAttribute(dir, 'operstate')) ?? 'unknown',
    is_bridge: await exists(join(dir, 'bridge')),
    is_physical: await exists(join(dir, 'device')),
    // Reading `speed` fails (EINVAL) on virtual and down links, and reads -1 on some drivers.
    speed_mbps: Number.isInteger(speed) && speed > 0 ? speed : null,
    master: master ? basename(master) : null,
  };
}

async function readAttribute(dir: string, name: string): Promise<string | undefined> {
  try {
    return (await readFile(join(dir, name), 'utf8')).trim();
  } catch {
    return undefined;
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}
