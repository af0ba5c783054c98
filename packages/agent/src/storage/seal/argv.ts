import { nfsFileNode } from '../../qemu/argv/nfs';
import type { LaunchPlan, NfsImage } from '../../qemu/argv/types';

/**
 * The QEMU command line of the seal appliance (ADR 030): the Debian cloud kernel and the seal
 * initramfs, the volume as the only disk, no network, no display, the serial console on stdout.
 */

/** What the appliance VM is made of. */
export interface SealApplianceArgs {
  kernel: string;
  initrd: string;
  /** The volume's file, already resolved inside its domain (on a userspace-mode nfs domain, its name). */
  volumePath: string;
  /**
   * Set for a volume on a userspace-mode nfs domain (ADR 027): QEMU opens it with its `nfs` driver
   * at this server and path, exactly as a VM launch maps the same path.
   */
  nfs?: NfsImage;
  format: 'qcow2' | 'raw';
  /** `tcg` in tests and wherever KVM is not usable. */
  accel: 'kvm' | 'tcg';
  /** The 0600 file holding an encrypted volume's key (never the key itself). */
  secretFile?: string;
  removeSshHostKeys?: boolean;
  /** Memory in MiB: the kernel and a busybox initramfs need little. */
  memoryMiB?: number;
}

/** Node name of the volume's format node; the virtio disk is built on it. */
const DISK_NODE = 'seal-disk';
const SECRET_ID = 'vireo-seal-sec0';

/** Pure: the argv (without the binary) that boots the appliance on one volume. */
export function sealApplianceArgv(a: SealApplianceArgs): string[] {
  const cmdline = ['console=ttyS0', 'quiet', 'panic=-1'];
  if (a.removeSshHostKeys) cmdline.push('vireo.seal.ssh_keys=1');
  const localNode = { driver: 'file', filename: a.volumePath, 'node-name': 'seal-file' };
  // The VM launch's own mapping and checks (server name, path syntax) make the nfs protocol node.
  const fileNode = a.nfs
    ? nfsFileNode(
        { nfsImages: { [a.volumePath]: a.nfs } } as unknown as LaunchPlan,
        a.volumePath,
        'seal',
        localNode,
      )
    : localNode;
  const formatNode: Record<string, unknown> = {
    driver: a.format,
    file: 'seal-file',
    'node-name': DISK_NODE,
    // Template copies are standalone images: a backing file named in the header is never opened.
    ...(a.format === 'qcow2' ? { backing: null } : {}),
    ...(a.secretFile ? { encrypt: { format: 'luks', 'key-secret': SECRET_ID } } : {}),
  };
  return [
    '-nodefaults',
    '-no-user-config',
    '-machine',
    'q35',
    '-accel',
    a.accel,
    '-cpu',
    a.accel === 'kvm' ? 'host' : 'max',
    '-smp',
    '1',
    '-m',
    String(a.memoryMiB ?? 192),
    '-display',
    'none',
    '-serial',
    'stdio',
    '-no-reboot',
    '-kernel',
    a.kernel,
    '-initrd',
    a.initrd,
    '-append',
    cmdline.join(' '),
    ...(a.secretFile ? ['-object', `secret,id=${SECRET_ID},format=raw,file=${optValue(a.secretFile)}`] : []),
    '-blockdev',
    JSON.stringify(fileNode),
    '-blockdev',
    JSON.stringify(formatNode),
    '-device',
    `virtio-blk-pci,drive=${DISK_NODE}`,
  ];
}

/** QEMU option values double their commas. */
function optValue(value: string): string {
  return value.replaceAll(',', ',,');
}
