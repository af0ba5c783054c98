import type { HostState } from '@vireo/api';

/** What the monitor observed about a host's agent. */
export type HostSignal =
  | { kind: 'connected' }
  | { kind: 'heartbeat_ok' }
  | { kind: 'lost'; reason: string }
  | { kind: 'tick'; now: number; stateChangedAt: number; graceMs: number };

export interface HostTransition {
  state: HostState;
  reason: string;
}

/**
 * The host state machine (pure): `connecting`/`non_responsive`/`installing` → `up` when the agent
 * answers; `up` → `connecting` when the connection or a heartbeat is lost; `connecting` →
 * `non_responsive` once it stayed unreachable for the grace period. Administrative states
 * (`maintenance`, `preparing_maintenance`, `install_failed`) are only left by an administrator, so
 * connection signals never change them. Returns undefined when the state does not change.
 */
export function nextHostState(current: HostState, signal: HostSignal): HostTransition | undefined {
  if (current === 'maintenance' || current === 'preparing_maintenance' || current === 'install_failed') {
    return undefined;
  }
  switch (signal.kind) {
    case 'connected':
    case 'heartbeat_ok':
      return current === 'up' ? undefined : { state: 'up', reason: '' };
    case 'lost':
      return current === 'up' ? { state: 'connecting', reason: signal.reason } : undefined;
    case 'tick':
      if (current === 'connecting' && signal.now - signal.stateChangedAt >= signal.graceMs) {
        return {
          state: 'non_responsive',
          reason: `the agent has not answered for ${Math.round(signal.graceMs / 1000)} s`,
        };
      }
      return undefined;
  }
}
