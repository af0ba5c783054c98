import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const dir = process.env.VIREO_TEST_GUEST_DIR ?? join(repoRoot, '.cache', 'test-guest');

/**
 * The test guest built by `scripts/build-test-guest.sh` (`npm test` builds it before the tests; see
 * docs/test-guest.md). Paths are absolute; call {@link assertTestGuestBuilt} before using them.
 */
export const testGuest = {
  /** Directory of the artifacts (`.cache/test-guest`, or `$VIREO_TEST_GUEST_DIR`). */
  dir,
  /** Kernel for direct boot (`-kernel`). */
  kernel: join(dir, 'vmlinuz'),
  /** Initramfs for direct boot (`-initrd`); use with {@link testGuestCmdline}. */
  initrd: join(dir, 'initrd.img'),
  /** Hybrid bootable ISO (isolinux): boots as a CD-ROM or as a disk. */
  iso: join(dir, 'test-guest.iso'),
  /** The ISO converted to qcow2: boots on its own as a hard disk (e.g. virtio). */
  qcow2: join(dir, 'test-guest.qcow2'),
  /** Printed once on the serial console when the guest is up; details follow on lines of their own. */
  marker: 'VIREO-TEST-GUEST-READY',
} as const;

/** Kernel command line for direct boot: serial console, quiet, plus optional `vireo.*` arguments. */
export function testGuestCmdline(net?: { ip: string; gw?: string; ifname?: string }): string {
  const args = ['console=ttyS0', 'quiet'];
  if (net) {
    args.push(`vireo.ip=${net.ip}`);
    if (net.gw) args.push(`vireo.gw=${net.gw}`);
    if (net.ifname) args.push(`vireo.if=${net.ifname}`);
  }
  return args.join(' ');
}

/** Throws a message saying how to build the guest when any artifact is missing. */
export function assertTestGuestBuilt(): void {
  const missing = [testGuest.kernel, testGuest.initrd, testGuest.iso, testGuest.qcow2].filter(
    (p) => !existsSync(p),
  );
  if (missing.length > 0) {
    throw new Error(
      `test guest not built (missing ${missing.join(', ')}): run "bash scripts/build-test-guest.sh" ` +
        '(npm test does it before the tests)',
    );
  }
}

/** The guest kernel's release (`uname -r` inside the guest), as recorded by the builder. */
export function testGuestKernelRelease(): string {
  assertTestGuestBuilt();
  return readFileSync(join(dir, 'kernel-release'), 'utf8').trim();
}
