#!/usr/bin/env bash
# Builds the Vireo test guest from Debian packages: a cloud kernel and a busybox initramfs, a hybrid
# ISO (isolinux) and a qcow2 converted from it that boots as a hard disk. See docs/test-guest.md.
#
# The result is cached in .cache/test-guest (or $VIREO_TEST_GUEST_DIR), keyed by the content of this
# script and scripts/test-guest/* plus the version of the kernel package: a run with nothing changed
# only compares the key and says "cached".
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${VIREO_TEST_GUEST_DIR:-$ROOT/.cache/test-guest}
SRC=$ROOT/scripts/test-guest
KERNEL_META=linux-image-cloud-amd64
ARTIFACTS=(vmlinuz initrd.img test-guest.iso test-guest.qcow2 kernel-release)
# Drivers the guest needs, by module name; their dependencies are added in load order at build time.
# virtio_pci pulls in virtio_pci_{legacy,modern}_dev, virtio_net pulls in failover/net_failover,
# virtio_scsi pulls in the SCSI core; button + evdev let busybox acpid see the ACPI power button.
MODULES=(virtio_pci virtio_blk virtio_net virtio_scsi sd_mod ata_piix sr_mod button evdev)
ISOLINUX_DIR=/usr/lib/ISOLINUX
SYSLINUX_BIOS_DIR=/usr/lib/syslinux/modules/bios

say() { printf 'test guest: %s\n' "$*"; }
die() { printf 'test guest: error: %s\n' "$*" >&2; exit 1; }

script_hash() {
  # File names are part of the hash, so renaming or adding a file under test-guest/ rebuilds too.
  (cd "$ROOT" && sha256sum scripts/build-test-guest.sh $(find scripts/test-guest -type f | LC_ALL=C sort)) |
    sha256sum | cut -c1-16
}

# The candidate version of the meta package; it equals the version of the concrete kernel package
# it depends on (Debian versions both from the same kernel source).
kernel_meta_version() {
  apt-cache policy "$KERNEL_META" 2>/dev/null | awk '$1 == "Candidate:" && $2 != "(none)" { print $2 }'
}

artifacts_present() {
  local f
  for f in "${ARTIFACTS[@]}"; do [ -s "$OUT/$f" ] || return 1; done
}

mkdir -p "$OUT"
# Several test runs (and several developers) may call this at once: build one at a time, and let the
# waiters find the fresh cache.
exec 9>"$OUT/.lock"
flock 9

hash=$(script_hash)
version=$(kernel_meta_version)
if [ -z "$version" ]; then
  # No package lists (a fresh container): a cache built by this same script is still good offline.
  if artifacts_present && [ -f "$OUT/key" ] && [ "$(cut -d' ' -f1 "$OUT/key")" = "$hash" ]; then
    say "cached in $OUT (package lists unavailable; kept $(cat "$OUT/key"))"
    exit 0
  fi
  [ "$(id -u)" -eq 0 ] || die "apt has no candidate for $KERNEL_META; run 'apt-get update' as root"
  say "apt has no candidate for $KERNEL_META; running apt-get update"
  DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
  version=$(kernel_meta_version)
  [ -n "$version" ] || die "apt has no candidate for $KERNEL_META even after apt-get update"
fi
key="$hash $version"
if artifacts_present && [ -f "$OUT/key" ] && [ "$(cat "$OUT/key")" = "$key" ]; then
  say "cached in $OUT ($key)"
  exit 0
fi

for tool in apt-get dpkg depmod modprobe cpio gzip xorriso qemu-img; do
  command -v "$tool" >/dev/null || die "$tool is missing (npm test installs the Debian packages in scripts/lib.sh)"
done
[ -x /bin/busybox ] || die "/bin/busybox is missing (Debian package busybox-static)"
# A dynamically linked busybox would need its libraries in the initramfs.
if ldd /bin/busybox >/dev/null 2>&1; then die "/bin/busybox is dynamically linked: install busybox-static"; fi
[ -f "$ISOLINUX_DIR/isolinux.bin" ] && [ -f "$ISOLINUX_DIR/isohdpfx.bin" ] || die "isolinux is missing"
[ -f "$SYSLINUX_BIOS_DIR/ldlinux.c32" ] || die "syslinux-common is missing"

started=$(date +%s%N)
work=$(mktemp -d "$OUT/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT

say "building ($key)"
kernel_pkg=$(apt-cache depends "$KERNEL_META" | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }')
[ -n "$kernel_pkg" ] || die "cannot find the kernel package $KERNEL_META depends on"
# As root apt warns that it downloads unsandboxed (its _apt user cannot write here): expected.
(cd "$work" && apt-get download -qq "$kernel_pkg=$version" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
deb=$(find "$work" -maxdepth 1 -name "${kernel_pkg}_*.deb" | head -n 1)
[ -n "$deb" ] || die "apt-get download $kernel_pkg=$version produced no package"
dpkg -x "$deb" "$work/kernel"
kernel_release=$(ls "$work/kernel/lib/modules")
[ -f "$work/kernel/boot/vmlinuz-$kernel_release" ] || die "no vmlinuz-$kernel_release in $kernel_pkg"

# --- initramfs -----------------------------------------------------------------------------------
tree=$work/initramfs
mkdir -p "$tree"/{bin,dev,proc,sys,run,tmp,root,etc/acpi/PWRF,lib/modules,usr}
ln -s bin "$tree/sbin"
ln -s ../bin "$tree/usr/bin"
ln -s ../bin "$tree/usr/sbin"
cp /bin/busybox "$tree/bin/busybox"
# Applet links made here rather than by `busybox --install` at boot: every boot saves the work.
for applet in $(/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -s busybox "$tree/bin/$applet"
done
install -m 0755 "$SRC/init" "$tree/init"
install -m 0644 "$SRC/inittab" "$tree/etc/inittab"
install -m 0755 "$SRC/power-button" "$tree/etc/acpi/PWRF/00000080"
echo "root:x:0:0:root:/root:/bin/sh" >"$tree/etc/passwd"
echo "root:x:0:" >"$tree/etc/group"

# modules.dep is generated at install time, not shipped: make it for the unpacked tree, then let
# modprobe print each module's dependency chain in load order.
depmod -b "$work/kernel" "$kernel_release"
declare -A seen=()
source "$SRC/kernel-modules.sh"
for module in "${MODULES[@]}"; do
  add_kernel_module "$work/kernel" "$kernel_release" "$tree" "$module" ||
    die "kernel $kernel_release has no module $module"
done

mkdir -p "$work/out"
(cd "$tree" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet) |
  gzip -9n >"$work/out/initrd.img"
cp "$work/kernel/boot/vmlinuz-$kernel_release" "$work/out/vmlinuz"
echo "$kernel_release" >"$work/out/kernel-release"

# --- hybrid ISO and the qcow2 made from it --------------------------------------------------------
iso=$work/iso
mkdir -p "$iso/isolinux" "$iso/boot"
cp "$ISOLINUX_DIR/isolinux.bin" "$SYSLINUX_BIOS_DIR/ldlinux.c32" "$iso/isolinux/"
cp "$SRC/isolinux.cfg" "$iso/isolinux/isolinux.cfg"
cp "$work/out/vmlinuz" "$work/out/initrd.img" "$iso/boot/"
# xorriso prints its banner even with -quiet: keep its output for when it fails.
xorriso -as mkisofs -quiet -o "$work/out/test-guest.iso" -V VIREO_TEST_GUEST \
  -isohybrid-mbr "$ISOLINUX_DIR/isohdpfx.bin" \
  -b isolinux/isolinux.bin -c isolinux/boot.cat -no-emul-boot -boot-load-size 4 -boot-info-table \
  "$iso" >"$work/xorriso.log" 2>&1 || { cat "$work/xorriso.log" >&2; die "xorriso failed"; }
qemu-img convert -q -f raw -O qcow2 "$work/out/test-guest.iso" "$work/out/test-guest.qcow2"

# Renames, so a test holding an older file open keeps reading a whole one; the key goes last.
for f in "${ARTIFACTS[@]}"; do mv -f "$work/out/$f" "$OUT/$f"; done
echo "$key" >"$OUT/key"
elapsed_ms=$((($(date +%s%N) - started) / 1000000))
say "built in ${elapsed_ms} ms: kernel $kernel_release, initrd $(stat -c %s "$OUT/initrd.img") bytes," \
  "iso $(stat -c %s "$OUT/test-guest.iso") bytes, modules: $(tr '\n' ' ' <"$tree/lib/modules/load-order")"
