import { posix } from 'node:path';
import { type VmSpec, VmSpecSchema } from '@vireo/agent-protocol';
import { Value } from '@sinclair/typebox/value';
import { invalidSpec } from './errors';

/** Highest vCPU count the agent accepts: above 255 QEMU needs x2APIC plus an IOMMU on x86. */
export const MAX_VCPUS = 255;

/** How many IDE/SATA devices each machine type can hold (disks and the CD-ROM together). */
const ATA_CAPACITY = {
  // q35: the built-in ICH9 AHCI controller, six ports, serves both `ide` and `sata`.
  q35: { ide: 6, sata: 6, shared: true },
  // pc: PIIX IDE has two buses with two units each; SATA gets its own six-port AHCI controller.
  pc: { ide: 4, sata: 6, shared: false },
} as const;

/**
 * Validates an untrusted VM spec: the TypeBox schema first, then the rules a schema cannot express
 * (unique ids, one bootable disk, bus capacity…). Returns the spec typed, or throws an `ArgvError`
 * with code `invalid_vm_spec` and `details.path` pointing at the first problem.
 */
export function validateVmSpec(input: unknown): VmSpec {
  const schemaError = Value.Errors(VmSpecSchema, input).First();
  if (schemaError) {
    throw invalidSpec(schemaError.path || '/', `VM spec ${schemaError.path || '/'}: ${schemaError.message}`);
  }
  const spec = input as VmSpec;

  const vcpus = spec.cpu.sockets * spec.cpu.cores * spec.cpu.threads;
  if (vcpus > MAX_VCPUS) {
    throw invalidSpec('/cpu', `${vcpus} vCPUs exceed the limit of ${MAX_VCPUS}`, { vcpus });
  }

  checkUnique(
    spec.disks.map((d) => d.id),
    '/disks',
    'id',
    'disk id',
  );
  checkUnique(
    spec.nics.map((n) => n.id),
    '/nics',
    'id',
    'NIC id',
  );
  checkUnique(
    spec.nics.map((n) => n.mac.toLowerCase()),
    '/nics',
    'mac',
    'MAC address',
  );
  spec.nics.forEach((nic, i) => {
    if (/^(00:){5}00$/.test(nic.mac))
      throw invalidSpec(`/nics/${i}/mac`, 'the all-zero MAC address is not usable');
  });

  const imagePaths = spec.disks.map((d) => d.path);
  if (spec.cdrom?.path) imagePaths.push(spec.cdrom.path);
  imagePaths.forEach((path, i) => {
    const where = i < spec.disks.length ? `/disks/${i}/path` : '/cdrom/path';
    checkCanonicalPath(path, where);
  });
  checkUnique(imagePaths, '/disks', 'path', 'image path');
  if (spec.kernel) {
    checkCanonicalPath(spec.kernel.kernel, '/kernel/kernel');
    if (spec.kernel.initrd) checkCanonicalPath(spec.kernel.initrd, '/kernel/initrd');
  }

  const bootable = spec.disks.flatMap((d, i) => (d.bootable ? [i] : []));
  if (bootable.length > 1) {
    throw invalidSpec(`/disks/${bootable[1]}/bootable`, 'at most one disk can be bootable');
  }

  spec.disks.forEach((disk, i) => {
    if (disk.encryption_secret_id !== undefined && disk.format !== 'qcow2') {
      throw invalidSpec(
        `/disks/${i}/encryption_secret_id`,
        'only qcow2 disks can be encrypted (LUKS in qcow2)',
      );
    }
    if (disk.base_encryption_secret_id !== undefined && disk.format !== 'qcow2') {
      throw invalidSpec(
        `/disks/${i}/base_encryption_secret_id`,
        'only a qcow2 disk can have a backing chain (and keys for it)',
      );
    }
    // ide-hd refuses a read-only backend: the guest could not be told the disk is read-only.
    if (disk.readonly && (disk.interface === 'ide' || disk.interface === 'sata')) {
      throw invalidSpec(
        `/disks/${i}/readonly`,
        `a read-only disk needs interface virtio or scsi, not ${disk.interface}`,
      );
    }
  });

  spec.boot_order.forEach((device, i) => {
    const present =
      device === 'cdrom'
        ? spec.cdrom !== undefined
        : device === 'disk'
          ? spec.disks.length > 0
          : spec.nics.length > 0;
    if (!present)
      throw invalidSpec(`/boot_order/${i}`, `boot device "${device}" is in boot_order but the VM has none`);
  });

  checkAtaCapacity(spec);
  return spec;
}

function checkUnique(values: string[], arrayPath: string, field: string, what: string): void {
  const seen = new Set<string>();
  values.forEach((value, i) => {
    if (seen.has(value)) throw invalidSpec(`${arrayPath}/${i}/${field}`, `duplicate ${what} "${value}"`);
    seen.add(value);
  });
}

/** Paths must already be canonical: no `.`/`..` segments, no `//`, no trailing slash. */
function checkCanonicalPath(path: string, where: string): void {
  if (posix.normalize(path) !== path || path.endsWith('/')) {
    throw invalidSpec(where, 'path must be absolute and canonical (no "." or ".." segments, no "//")');
  }
}

function checkAtaCapacity(spec: VmSpec): void {
  const capacity = ATA_CAPACITY[spec.machine];
  const count = { ide: 0, sata: 0 };
  for (const disk of spec.disks) {
    if (disk.interface === 'ide' || disk.interface === 'sata') count[disk.interface]++;
  }
  if (spec.cdrom && spec.cdrom.interface !== 'scsi') count[spec.cdrom.interface]++;
  if (capacity.shared) {
    if (count.ide + count.sata > capacity.ide) {
      throw invalidSpec('/disks', `a ${spec.machine} VM holds at most ${capacity.ide} IDE/SATA devices`);
    }
    return;
  }
  for (const kind of ['ide', 'sata'] as const) {
    if (count[kind] > capacity[kind]) {
      throw invalidSpec(
        '/disks',
        `a ${spec.machine} VM holds at most ${capacity[kind]} ${kind.toUpperCase()} devices`,
      );
    }
  }
}
