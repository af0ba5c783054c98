# Sourced by scripts/build-test-guest.sh and scripts/build-seal-appliance.sh (not part of any image).
#
# add_kernel_module KERNEL_DIR RELEASE TREE MODULE
# Puts MODULE and the modules it depends on, in the order the kernel loads them, from an unpacked
# Debian kernel package (KERNEL_DIR, after depmod) into the initramfs TREE: decompressed, because
# busybox insmod cannot read compressed modules, and each name appended to lib/modules/load-order.
# Modules already added (the caller's associative array `seen`) are skipped. Returns 1 when the
# kernel has no such module; exits through the caller's `die` on a module file it cannot handle.
add_kernel_module() {
  local kernel=$1 release=$2 tree=$3 module=$4 chain kind path name
  chain=$(modprobe -d "$kernel" -S "$release" --show-depends "$module" 2>/dev/null) || return 1
  while read -r kind path _; do
    [ "$kind" = insmod ] || continue # "builtin NAME": nothing to load
    name=$(basename "$path")
    name=${name%.xz}
    name=${name%.zst}
    name=${name%.gz}
    [ -z "${seen[$name]:-}" ] || continue
    seen[$name]=1
    case "$path" in
      *.ko.xz) xz -dc "$path" >"$tree/lib/modules/$name" ;;
      *.ko.zst) zstd -q -dc "$path" >"$tree/lib/modules/$name" ;;
      *.ko.gz) gzip -dc "$path" >"$tree/lib/modules/$name" ;;
      *.ko) cp "$path" "$tree/lib/modules/$name" ;;
      *) die "unexpected module file $path" ;;
    esac
    echo "$name" >>"$tree/lib/modules/load-order"
  done <<<"$chain"
}
