/**
 * Debian packages a host needs at run time: the hypervisor and image tools, iproute2 for bridges
 * and taps, openssl and kmod. This is the run-time part of `VIREO_DEB_PACKAGES` in scripts/lib.sh
 * (a test keeps them in step); the test-guest builder and test tools are not installed on hosts.
 */
export const HOST_DEB_PACKAGES = [
  'qemu-system-x86',
  'qemu-utils',
  'qemu-block-extra',
  'iproute2',
  'openssl',
  'kmod',
] as const;
