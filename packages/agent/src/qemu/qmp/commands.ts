/**
 * Typed subset of the QMP schema (QEMU 7.2) the agent uses. Each entry gives the command's
 * arguments (`undefined` when it takes none) and its `return` value. Shapes follow QEMU's QAPI
 * schema; optional members QEMU may omit are optional here. Commands not listed go through
 * `QmpClient.executeUntyped`.
 */

export type QmpRunState =
  | 'debug'
  | 'inmigrate'
  | 'internal-error'
  | 'io-error'
  | 'paused'
  | 'postmigrate'
  | 'prelaunch'
  | 'finish-migrate'
  | 'restore-vm'
  | 'running'
  | 'save-vm'
  | 'shutdown'
  | 'suspended'
  | 'watchdog'
  | 'guest-panicked'
  | 'colo';

export interface QmpStatusInfo {
  status: QmpRunState;
  running: boolean;
  singlestep?: boolean;
}

export type QmpEmpty = Record<string, never>;

export interface QmpVncClientInfo {
  host: string;
  service: string;
  family: string;
  websocket: boolean;
  x509_dname?: string;
  sasl_username?: string;
}

export interface QmpVncInfo {
  enabled: boolean;
  host?: string;
  family?: string;
  service?: string;
  auth?: string;
  clients?: QmpVncClientInfo[];
}

export interface QmpImageInfo {
  filename: string;
  format: string;
  'virtual-size': number;
  'actual-size'?: number;
  'dirty-flag'?: boolean;
  'cluster-size'?: number;
  encrypted?: boolean;
  'backing-filename'?: string;
  'full-backing-filename'?: string;
  'backing-filename-format'?: string;
  'backing-image'?: QmpImageInfo;
  'format-specific'?: { type: string; data: Record<string, unknown> };
}

export interface QmpBlockDeviceInfo {
  file: string;
  'node-name'?: string;
  ro: boolean;
  drv: string;
  backing_file?: string;
  backing_file_depth: number;
  encrypted: boolean;
  detect_zeroes: string;
  image: QmpImageInfo;
  cache?: { writeback: boolean; direct: boolean; 'no-flush': boolean };
  [key: string]: unknown;
}

export interface QmpBlockInfo {
  /** Legacy drive name; empty for `-blockdev` + `-device` set-ups, which use `qdev`. */
  device: string;
  qdev?: string;
  type: string;
  removable: boolean;
  locked: boolean;
  inserted?: QmpBlockDeviceInfo;
  tray_open?: boolean;
  'io-status'?: 'ok' | 'failed' | 'nospace';
}

export interface QmpBlockDeviceStats {
  rd_bytes: number;
  wr_bytes: number;
  rd_operations: number;
  wr_operations: number;
  flush_operations: number;
  rd_total_time_ns: number;
  wr_total_time_ns: number;
  flush_total_time_ns: number;
  [key: string]: unknown;
}

export interface QmpBlockStats {
  device?: string;
  qdev?: string;
  'node-name'?: string;
  stats: QmpBlockDeviceStats;
  parent?: QmpBlockStats;
  backing?: QmpBlockStats;
}

export interface QmpCpuInfoFast {
  'cpu-index': number;
  'qom-path': string;
  'thread-id': number;
  target: string;
  props?: { 'node-id'?: number; 'socket-id'?: number; 'core-id'?: number; 'thread-id'?: number };
}

export interface QmpVersionInfo {
  qemu: { major: number; minor: number; micro: number };
  package: string;
}

export interface QmpMigrationInfo {
  status?:
    | 'none'
    | 'setup'
    | 'cancelling'
    | 'cancelled'
    | 'active'
    | 'postcopy-active'
    | 'postcopy-paused'
    | 'postcopy-recover'
    | 'completed'
    | 'failed'
    | 'colo'
    | 'pre-switchover'
    | 'device'
    | 'wait-unplug';
  'total-time'?: number;
  downtime?: number;
  'expected-downtime'?: number;
  'setup-time'?: number;
  ram?: { transferred: number; remaining: number; total: number; [key: string]: unknown };
  'error-desc'?: string;
  [key: string]: unknown;
}

/** Selects a removable-media device: `id` is the qdev id (`cdrom0`); `device` the legacy name. */
export interface QmpMediaDeviceRef {
  id?: string;
  device?: string;
}

/** Options of a block node (`blockdev-add`): QAPI `BlockdevOptions`, loosely typed beyond `driver`. */
export interface QmpBlockdevOptions {
  driver: string;
  'node-name'?: string;
  'read-only'?: boolean;
  [key: string]: unknown;
}

/** The command map. `args: undefined` means the command takes no arguments. */
export interface QmpCommands {
  qmp_capabilities: { args: { enable?: string[] } | undefined; result: QmpEmpty };
  'query-status': { args: undefined; result: QmpStatusInfo };
  'query-version': { args: undefined; result: QmpVersionInfo };
  cont: { args: undefined; result: QmpEmpty };
  stop: { args: undefined; result: QmpEmpty };
  system_powerdown: { args: undefined; result: QmpEmpty };
  system_reset: { args: undefined; result: QmpEmpty };
  quit: { args: undefined; result: QmpEmpty };
  /** Never logged: the password is a secret. */
  set_password: {
    args: {
      protocol: 'vnc' | 'spice';
      password: string;
      connected?: 'keep' | 'disconnect' | 'fail';
      display?: string;
    };
    result: QmpEmpty;
  };
  /** `time`: `now`, `never`, `+SECONDS` (relative) or `SECONDS` (absolute, since the epoch). */
  expire_password: { args: { protocol: 'vnc' | 'spice'; time: string; display?: string }; result: QmpEmpty };
  'query-vnc': { args: undefined; result: QmpVncInfo };
  'blockdev-add': { args: QmpBlockdevOptions; result: QmpEmpty };
  'blockdev-del': { args: { 'node-name': string }; result: QmpEmpty };
  device_add: {
    args: { driver: string; id?: string; bus?: string; [key: string]: unknown };
    result: QmpEmpty;
  };
  /** Completes asynchronously for hot-plugged devices: wait for the `DEVICE_DELETED` event. */
  device_del: { args: { id: string }; result: QmpEmpty };
  'query-block': { args: undefined; result: QmpBlockInfo[] };
  'query-blockstats': { args: { 'query-nodes'?: boolean } | undefined; result: QmpBlockStats[] };
  'blockdev-change-medium': {
    args: QmpMediaDeviceRef & {
      filename: string;
      format?: string;
      force?: boolean;
      'read-only-mode'?: 'retain' | 'read-only' | 'read-write';
    };
    result: QmpEmpty;
  };
  'blockdev-open-tray': { args: QmpMediaDeviceRef & { force?: boolean }; result: QmpEmpty };
  'blockdev-close-tray': { args: QmpMediaDeviceRef; result: QmpEmpty };
  'blockdev-remove-medium': { args: { id: string }; result: QmpEmpty };
  'blockdev-insert-medium': { args: { id: string; 'node-name': string }; result: QmpEmpty };
  /** Never logged: secret objects carry key material. */
  'object-add': { args: { 'qom-type': string; id: string; [key: string]: unknown }; result: QmpEmpty };
  'object-del': { args: { id: string }; result: QmpEmpty };
  'query-cpus-fast': { args: undefined; result: QmpCpuInfoFast[] };
  block_resize: { args: { device?: string; 'node-name'?: string; size: number }; result: QmpEmpty };
  'human-monitor-command': { args: { 'command-line': string; 'cpu-index'?: number }; result: string };
  'query-migrate': { args: undefined; result: QmpMigrationInfo };
  migrate: { args: { uri: string; detach?: boolean; resume?: boolean }; result: QmpEmpty };
  'migrate-incoming': { args: { uri: string }; result: QmpEmpty };
  migrate_cancel: { args: undefined; result: QmpEmpty };
  'migrate-set-capabilities': {
    args: { capabilities: { capability: string; state: boolean }[] };
    result: QmpEmpty;
  };
  'migrate-set-parameters': { args: Record<string, unknown>; result: QmpEmpty };
}

export type QmpCommandName = keyof QmpCommands;

/** Per-command default timeouts (ms); anything else gets `DEFAULT_COMMAND_TIMEOUT_MS`. */
export const COMMAND_TIMEOUTS_MS: Partial<Record<QmpCommandName, number>> = {
  // Opening a LUKS image derives its key (about 2 s at QEMU's default iteration time).
  'blockdev-add': 30_000,
  'object-add': 30_000,
  'blockdev-change-medium': 30_000,
  'human-monitor-command': 30_000,
  block_resize: 30_000,
  'query-status': 5_000,
  'query-version': 5_000,
  quit: 5_000,
};
export const DEFAULT_COMMAND_TIMEOUT_MS = 10_000;

/** Commands whose arguments carry secrets: never put their arguments in logs or errors. */
export const SECRET_BEARING_COMMANDS: ReadonlySet<string> = new Set([
  'set_password',
  'object-add',
  'human-monitor-command',
]);

/** An asynchronous QMP event. */
export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp: { seconds: number; microseconds: number };
}

/** The server's greeting, read before `qmp_capabilities`. */
export interface QmpGreeting {
  QMP: { version: QmpVersionInfo; capabilities: string[] };
}
