import type { VmSpec } from '@vireo/agent-protocol';

/** Host paths of the per-VM runtime files QEMU creates or reads. All absolute. */
export interface LaunchPaths {
  /** QMP unix socket (QEMU listens; one client at a time). */
  qmpSocket: string;
  /** Serial console unix socket (QEMU listens; used when `spec.serial`). */
  serialSocket: string;
  /** File the serial console output is copied to, even with no client attached. */
  serialLog: string;
  /** QEMU writes its PID here (with or without `-daemonize`). */
  pidfile: string;
  /**
   * VNC on a unix socket instead of TCP. Only used when `spec.display.vnc` and `LaunchPlan.vnc` is
   * absent; such a display has no WebSocket listener.
   */
  vncSocket?: string;
}

/** Loopback TCP VNC display: port 5900 + `display`, WebSocket (noVNC) on `websocketPort`. */
export interface VncListen {
  display: number;
  websocketPort: number;
}

/**
 * Everything `buildQemuArgv` needs besides the spec: host decisions the agent made for this launch.
 * The builder is pure: same plan, same argv (golden-tested).
 */
export interface LaunchPlan {
  /** Validated with `VmSpecSchema` (and re-checked by `validateVmSpec`). */
  spec: VmSpec;
  /** Exactly one accelerator; `tcg` also gets a 32 MiB translation cache. */
  accel: 'kvm' | 'tcg';
  paths: LaunchPaths;
  vnc?: VncListen;
  /** Enables QEMU's seccomp sandbox; see `daemonize` for which filters apply. */
  sandbox: boolean;
  /**
   * `-daemonize` (default `true`): QEMU forks, detaches and reports start-up errors through its exit
   * status. QEMU installs its seccomp filter before it forks, so a daemonizing QEMU cannot deny
   * `spawn` (fork) or `elevateprivileges` (setsid): with `daemonize` the sandbox is
   * `on,obsolete=deny,resourcecontrol=deny`; with `daemonize: false` (the caller detaches the
   * process itself) it is the full `on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny`.
   */
  daemonize?: boolean;
  /**
   * Files (mode 0600, written by the runtime) holding the values of the disk encryption secrets,
   * keyed by secret id. QEMU opens `-blockdev` nodes before QMP exists, so a secret needed at start
   * has to come from a file; argv only carries the id and the path. The runtime deletes the files
   * once QMP answers.
   */
  secretFiles?: Record<string, string>;
  /**
   * The backing chain of each disk that has an encrypted layer (or a key for one), by disk id,
   * active layer first, as the runtime read it from the image headers. Such a disk gets one explicit
   * node pair per layer (each needs its own `encrypt.key-secret`); disks absent here get one node
   * pair and QEMU opens their backing files from the headers.
   */
  diskChains?: Record<string, DiskChainLayer[]>;
  /** `-incoming`: `defer` (then `migrate-incoming` over QMP), `tcp:HOST:PORT` or `unix:PATH`. */
  incoming?: string;
  /** q35 only: empty PCIe root ports so disks and NICs can be hot-plugged later (default 0). */
  hotplugPorts?: number;
  /**
   * Images on nfs domains served in userspace mode (ADR 027), keyed by the path the spec names:
   * QEMU opens them with its `nfs` block driver (the path is only a name on this host).
   */
  nfsImages?: Record<string, NfsImage>;
}

/** Where QEMU's nfs driver finds an image: the server and the export path plus the file's path in it. */
export interface NfsImage {
  server: string;
  path: string;
}

/** One volume of a disk's chain as the runtime found it. */
export interface DiskChainLayer {
  /** Absolute path (the active layer's is the spec's path; the others are resolved). */
  path: string;
  format: 'qcow2' | 'raw';
  /** Secret id opening this layer (LUKS in qcow2); absent for a plain layer. */
  secretId?: string;
  /**
   * The layer may become writable: it is in the disk's own directory, so a live merge can commit
   * into it. Layers of another disk (a template's base) are always opened read-only.
   */
  writable: boolean;
}
