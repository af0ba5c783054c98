import { access, readdir, readFile } from 'node:fs/promises';
import { release } from 'node:os';

/**
 * How this host serves nfs domains (ADR 027):
 * - `kernel`: the kernel NFS client mounts the export (`mount -t nfs`, Debian's nfs-common) and the
 *   domain is a directory like any posix one;
 * - `userspace`: no kernel client (no `nfs` in /proc/filesystems, no module, or no `mount.nfs`):
 *   image data goes through QEMU's own `nfs` block driver and the domain's file operations through
 *   the agent's NFSv3 client.
 */
export type NfsMode = 'kernel' | 'userspace';

export interface NfsModeProbe {
  mode: NfsMode;
  /** Why (for the log and the host's capabilities). */
  reason: string;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** True when the running kernel has the NFS client built in or as a loadable module. */
async function kernelHasNfs(): Promise<boolean> {
  const fs = await readFile('/proc/filesystems', 'utf8').catch(() => '');
  if (fs.split('\n').some((l) => /\tnfs4?$/.test(l))) return true;
  const dir = `/lib/modules/${release()}/kernel/fs/nfs`;
  const files = await readdir(dir).catch(() => [] as string[]);
  return files.some((f) => /^nfs\.ko(\.(xz|zst|gz))?$/.test(f));
}

/**
 * Detects the mode once at start. `override` (the `VIREO_AGENT_NFS_MODE` setting) forces one; a
 * forced `kernel` on a host without the client fails at mount time with the tool's own message.
 */
export async function detectNfsMode(override?: string): Promise<NfsModeProbe> {
  if (override === 'kernel' || override === 'userspace') {
    return { mode: override, reason: `forced by VIREO_AGENT_NFS_MODE=${override}` };
  }
  const kernel = await kernelHasNfs();
  const helper = (await exists('/sbin/mount.nfs')) || (await exists('/usr/sbin/mount.nfs'));
  if (kernel && helper) return { mode: 'kernel', reason: 'kernel NFS client and mount.nfs present' };
  return {
    mode: 'userspace',
    reason: kernel
      ? 'mount.nfs (nfs-common) is not installed'
      : 'the kernel has no NFS client (no nfs in /proc/filesystems, no nfs module)',
  };
}
