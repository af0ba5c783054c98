import { VM_BOOT_DEVICES, VM_DISK_INTERFACES, VM_OS_TYPES } from '@vireo/api';
import { usageError } from '../../framework/errors';
import type { CommandContext, OptionSpec } from '../../framework/spec';

/** Hardware options shared by `vm create` and `vm update`. */
export const HARDWARE_OPTIONS: readonly OptionSpec[] = [
  { flags: '--cpus <n>', description: 'virtual CPUs' },
  { flags: '--memory <mib>', description: 'guest memory in MiB' },
  { flags: '--os-type <type>', description: 'guest OS family', choices: VM_OS_TYPES },
  { flags: '--boot <devices>', description: `boot order, comma-separated (${VM_BOOT_DEVICES.join(', ')})` },
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

/** `--nic user[:MAC]` → a VmNic body (user-mode networking is what the API offers today). */
export function parseNic(value: string): Record<string, unknown> {
  const colon = value.indexOf(':');
  const type = colon < 0 ? value : value.slice(0, colon);
  if (type !== 'user') throw usageError(`--nic expects user[:MAC], not ${JSON.stringify(value)}`);
  return colon < 0 ? { type } : { type, mac: value.slice(colon + 1) };
}

/** Fills cpus, memory_mib, os_type and boot_order from the hardware options that were given. */
export function applyHardware(ctx: CommandContext, body: Record<string, unknown>): void {
  if (ctx.opts.cpus !== undefined) body.cpus = positiveInt('--cpus', ctx.opts.cpus);
  if (ctx.opts.memory !== undefined) body.memory_mib = positiveInt('--memory', ctx.opts.memory);
  if (ctx.opts.osType !== undefined) body.os_type = ctx.opts.osType;
  if (ctx.opts.boot !== undefined) body.boot_order = parseBoot(String(ctx.opts.boot));
}
