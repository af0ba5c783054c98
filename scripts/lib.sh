# Shared helpers for the set-up scripts. Sourced, not run.
step() { printf '\n==> %s\n' "$*"; }

# Debian packages Vireo needs at run time and in tests. Installed only when missing.
VIREO_DEB_PACKAGES=(
  qemu-system-x86 qemu-utils qemu-block-extra   # the hypervisor and image tools
  iproute2 openssl kmod                          # bridges/taps, certificates, module tools
  busybox-static isolinux syslinux-common xorriso cpio xz-utils zstd  # test guest builder
  tmux                                           # CLI shell tests drive a real terminal
  e2fsprogs                                      # seal tests make and read ext4 images unmounted
  openssh-server                                 # SSH host deploy tests run a real sshd
  nfs-ganesha nfs-ganesha-vfs rpcbind libnfs-utils  # userspace NFS server (and nfs-ls) for NFS domain tests
  chromium fonts-noto-cjk                        # web portal browser tests (Chinese text in screenshots)
)

ensure_debian_packages() {
  local missing=()
  for p in "${VIREO_DEB_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    step "Debian packages: all present"
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${missing[*]} (run as root, or install them with apt-get)" >&2
    return 1
  fi
  step "Installing Debian packages: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

ensure_node_modules() {
  if [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ]; then
    step "npm packages: up to date"
    return 0
  fi
  step "Installing npm packages (npm ci)"
  npm ci --no-audit --no-fund
}

build_binaries() {
  step "Building vireo-engine, vireo-agent and vireo"
  node scripts/build.mjs
}
