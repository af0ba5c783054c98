import {
  VM_BOOT_DEVICES,
  VM_CONSOLE_TYPES,
  VM_DISK_INTERFACES,
  VM_NIC_MODELS,
  VM_OS_TYPES,
} from '@vireo/api';
import { usageError } from '../../framework/errors';
import type { CommandContext, OptionSpec } from '../../framework/spec';

/** Hardware options shared by `vm create` and `vm update`. */
export const HARDWARE_OPTIONS: readonly OptionSpec[] = [
  { flags: '--cpus <n>', description: 'virtual CPUs' },
  { flags: '--memory <mib>', description: 'guest memory in MiB' },
  { flags: '--os-type <type>', description: 'guest OS family', choices: VM_OS_TYPES },
  { flags: '--boot <devices>', description: `boot order, comma-separated (${VM_BOOT_DEVICES.join(', ')})` },
  {
    flags: '--console <type>',
    description: 'vnc (graphical display, the default) or serial (headless: no display, USB or VNC)',
    choices: VM_CONSOLE_TYPES,
  },
];

function positiveInt(flag: string, value: unknown): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw usageError(`${flag} must be a positive integer, not ${JSON.stringify(value)}`);
  return n;
}

/** `--boot cdrom,disk` → `['cdrom','disk']`; unknown devices are usage errors (the engine checks the rest). */
export function parseBoot(value: string): string[] {
  const devices = value.split(',').map((d) => d.trim());
  for (const d of devices) {
    if (!(VM_BOOT_DEVICES as readonly string[]).includes(d)) {
      throw usageError(`--boot: unknown device ${JSON.stringify(d)} (one of ${VM_BOOT_DEVICES.join(', ')})`);
    }
  }
  return devices;
}

/** `--disk SIZE_GIB[:format[:interface]]` → a VmDiskCreate body. */
export function parseDisk(value: string): Record<string, unknown> {
  const [size, format, iface, ...rest] = value.split(':');
  if (rest.length > 0)
    throw usageError(`--disk expects SIZE_GIB[:format[:interface]], not ${JSON.stringify(value)}`);
  const disk: Record<string, unknown> = { size_gib: positiveInt('--disk size', size) };
  if (format) {
    if (format !== 'qcow2' && format !== 'raw')
      throw usageError(`--disk format must be qcow2 or raw, not ${JSON.stringify(format)}`);
    disk.format = format;
  }
  if (iface) {
    if (!(VM_DISK_INTERFACES as readonly string[]).includes(iface)) {
      throw usageError(
        `--disk interface must be one of ${VM_DISK_INTERFACES.join(', ')}, not ${JSON.stringify(iface)}`,
      );
    }
    disk.interface = iface;
  }
  return disk;
}

const NIC_USAGE = 'user[:MAC] | user[,mac=MAC][,model=M] | bridge=NAME[,mac=MAC][,model=M]';
// The same shapes the API checks (it stays the authority); caught here to name the flag.
const MAC_RE = /^[0-9a-fA-F][02468aceACE](:[0-9a-fA-F]{2}){5}$/;
const BRIDGE_RE = /^[A-Za-z0-9_.-]{1,15}$/;

/**
 * `--nic` → a VmNic body: user-mode networking (`user`, `user:MAC`, `user,mac=…,model=…`) or a tap
 * on an existing host bridge (`bridge=br0[,mac=…][,model=…]`).
 */
export function parseNic(value: string): Record<string, unknown> {
  const bad = (why: string) => usageError(`--nic ${JSON.stringify(value)}: ${why} (expects ${NIC_USAGE})`);
  // The first form, kept from before: user:MAC.
  if (value.startsWith('user:')) {
    const mac = value.slice('user:'.length);
    if (!MAC_RE.test(mac)) throw bad('not a unicast MAC address');
    return { type: 'user', mac };
  }
  const [head = '', ...rest] = value.split(',');
  const nic: Record<string, unknown> = {};
  if (head === 'user') nic.type = 'user';
  else if (head.startsWith('bridge=')) {
    const bridge = head.slice('bridge='.length);
    if (!BRIDGE_RE.test(bridge)) throw bad('a bridge name is 1-15 letters, digits, ".", "_" or "-"');
    nic.bridge = bridge;
  } else throw bad('it starts with user or bridge=NAME');
  for (const item of rest) {
    const eq = item.indexOf('=');
    const key = eq < 0 ? item : item.slice(0, eq);
    const v = eq < 0 ? '' : item.slice(eq + 1);
    if (key !== 'mac' && key !== 'model') throw bad(`unknown setting ${JSON.stringify(key)}`);
    if (key in nic) throw bad(`${key} given twice`);
    if (key === 'mac' && !MAC_RE.test(v)) throw bad('not a unicast MAC address');
    if (key === 'model' && !(VM_NIC_MODELS as readonly string[]).includes(v)) {
      throw bad(`model is one of ${VM_NIC_MODELS.join(', ')}`);
    }
    nic[key] = v;
  }
  return nic;
}

/** Fills cpus, memory_mib, os_type, boot_order and console from the hardware options that were given. */
export function applyHardware(ctx: CommandContext, body: Record<string, unknown>): void {
  if (ctx.opts.cpus !== undefined) body.cpus = positiveInt('--cpus', ctx.opts.cpus);
  if (ctx.opts.memory !== undefined) body.memory_mib = positiveInt('--memory', ctx.opts.memory);
  if (ctx.opts.osType !== undefined) body.os_type = ctx.opts.osType;
  if (ctx.opts.boot !== undefined) body.boot_order = parseBoot(String(ctx.opts.boot));
  if (ctx.opts.console !== undefined) body.console = ctx.opts.console;
}
