#!/usr/bin/env bash
# Builds the Vireo seal appliance: a busybox initramfs (scripts/seal-appliance/init) with the block
# and file-system modules of the test guest's Debian cloud kernel. The agent boots it under QEMU with
# a template's copied volume as its only disk to reset machine-id and hostname (ADR 030).
#
# Output: seal-appliance.initrd next to the test guest's vmlinuz (.cache/test-guest or
# $VIREO_TEST_GUEST_DIR), cached under a key of this script, scripts/seal-appliance/* and the test
# guest's key (which holds the kernel version).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${VIREO_TEST_GUEST_DIR:-$ROOT/.cache/test-guest}
SRC=$ROOT/scripts/seal-appliance
KERNEL_META=linux-image-cloud-amd64
# Required: the disk and ext4. Optional: xfs and btrfs, when the kernel package has them.
MODULES=(virtio_pci virtio_blk ext4)
OPTIONAL_MODULES=(xfs btrfs)

say() { printf 'seal appliance: %s\n' "$*"; }
die() { printf 'seal appliance: error: %s\n' "$*" >&2; exit 1; }

# The kernel is the test guest's: build (or find cached) that first.
bash "$ROOT/scripts/build-test-guest.sh" >/dev/null

exec 9>"$OUT/.seal-lock"
flock 9

hash=$( (cd "$ROOT" && sha256sum scripts/build-seal-appliance.sh $(find scripts/seal-appliance -type f | LC_ALL=C sort)) |
  sha256sum | cut -c1-16)
key="$hash $(cat "$OUT/key")"
if [ -s "$OUT/seal-appliance.initrd" ] && [ -f "$OUT/seal-appliance.key" ] && [ "$(cat "$OUT/seal-appliance.key")" = "$key" ]; then
  say "cached in $OUT ($key)"
  exit 0
fi
started=$(date +%s%N)
release=$(cat "$OUT/kernel-release")
work=$(mktemp -d "$OUT/.seal-build.XXXXXX")
trap 'rm -rf "$work"' EXIT

kernel_pkg=linux-image-$release
version=$(apt-cache policy "$KERNEL_META" 2>/dev/null | awk '$1 == "Candidate:" && $2 != "(none)" { print $2 }')
[ -n "$version" ] || die "apt has no candidate for $KERNEL_META; run 'apt-get update' as root"
(cd "$work" && apt-get download -qq "$kernel_pkg=$version" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
deb=$(find "$work" -maxdepth 1 -name "${kernel_pkg}_*.deb" | head -n 1)
[ -n "$deb" ] || die "apt-get download $kernel_pkg=$version produced no package"
dpkg -x "$deb" "$work/kernel"
[ -d "$work/kernel/lib/modules/$release" ] || die "$kernel_pkg has no modules for $release"

tree=$work/initramfs
mkdir -p "$tree"/{bin,dev,proc,sys,mnt,tmp,lib/modules}
ln -s bin "$tree/sbin"
cp /bin/busybox "$tree/bin/busybox"
for applet in $(/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -s busybox "$tree/bin/$applet"
done
install -m 0755 "$SRC/init" "$tree/init"

depmod -b "$work/kernel" "$release"
declare -A seen=()
source "$ROOT/scripts/test-guest/kernel-modules.sh"
add_module() { add_kernel_module "$work/kernel" "$release" "$tree" "$1"; }
for m in "${MODULES[@]}"; do add_module "$m" || die "kernel $release has no module $m"; done
for m in "${OPTIONAL_MODULES[@]}"; do add_module "$m" || say "kernel $release has no module $m (skipped)"; done
touch "$tree/lib/modules/load-order"

(cd "$tree" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet) |
  gzip -9n >"$work/seal-appliance.initrd"
mv -f "$work/seal-appliance.initrd" "$OUT/seal-appliance.initrd"
echo "$key" >"$OUT/seal-appliance.key"
say "built in $((($(date +%s%N) - started) / 1000000)) ms: $(stat -c %s "$OUT/seal-appliance.initrd") bytes," \
  "modules: $(tr '\n' ' ' <"$tree/lib/modules/load-order")"
