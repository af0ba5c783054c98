/**
 * Protocol version and capabilities, exchanged by `agent.hello` on every new connection.
 *
 * `PROTOCOL_VERSION` is `MAJOR.MINOR`. A peer with another MAJOR is refused (`protocol_mismatch`);
 * MINOR only grows by adding methods, events or optional fields, which is why capabilities exist:
 * the engine asks "can this agent hot-plug disks?", never "is this agent at least 1.3?".
 */
export const PROTOCOL_VERSION = '1.0';

/** Features an agent may offer. Append only: the engine matches on these strings. */
export const AGENT_CAPABILITIES = [
  /** vm.start/shutdown/stop/reboot/reset/pause/resume/destroy, vm.list/get, vm.state events. */
  'vm.lifecycle',
  /** vm.console type vnc: loopback VNC + WebSocket, password with expiry. */
  'vm.console.vnc',
  /** vm.console type serial: unix socket + log file. */
  'vm.console.serial',
  /** vm.change_cd. */
  'vm.cdrom.change',
  /** vm.attach_disk / vm.detach_disk on a running VM. */
  'vm.disk.hotplug',
  /** vm.stats events (CPU time, RSS, block I/O). */
  'vm.stats',
  /** host.capabilities, host.stats and host.stats events. */
  'host.stats',
  /** image.create / image.info on local paths. */
  'image.local',
  /** VMs keep running across agent restarts and are re-adopted. */
  'vm.recovery',
  /** QEMU processes the agent does not own are listed by vm.list. */
  'host.external_vms',
] as const;

export type AgentCapability = (typeof AGENT_CAPABILITIES)[number];

/** Major part of a `MAJOR.MINOR` version string, or `undefined` when it is not one. */
export function protocolMajor(version: string): number | undefined {
  const match = /^(\d{1,4})\.(\d{1,4})$/.exec(version);
  return match ? Number(match[1]) : undefined;
}

/** True when two protocol versions can talk (same MAJOR). */
export function isCompatibleProtocol(ours: string, theirs: string): boolean {
  const a = protocolMajor(ours);
  return a !== undefined && a === protocolMajor(theirs);
}
