import { describe, expect, it } from 'vitest';
import { nextHostState } from './host-state';

const tick = (age: number, graceMs = 1000) => ({
  kind: 'tick' as const,
  now: 10_000 + age,
  stateChangedAt: 10_000,
  graceMs,
});

describe('nextHostState', () => {
  it('brings a connecting, non-responsive or newly enrolled host up when its agent answers', () => {
    for (const s of ['connecting', 'non_responsive', 'installing'] as const) {
      expect(nextHostState(s, { kind: 'connected' })).toEqual({ state: 'up', reason: '' });
      expect(nextHostState(s, { kind: 'heartbeat_ok' })).toEqual({ state: 'up', reason: '' });
    }
    expect(nextHostState('up', { kind: 'connected' })).toBeUndefined();
  });

  it('moves an up host to connecting when the connection or a heartbeat is lost', () => {
    expect(nextHostState('up', { kind: 'lost', reason: 'closed' })).toEqual({
      state: 'connecting',
      reason: 'closed',
    });
    expect(nextHostState('non_responsive', { kind: 'lost', reason: 'closed' })).toBeUndefined();
  });

  it('declares a connecting host non-responsive only after the grace period', () => {
    expect(nextHostState('connecting', tick(999))).toBeUndefined();
    expect(nextHostState('connecting', tick(1000))?.state).toBe('non_responsive');
    expect(nextHostState('up', tick(60_000))).toBeUndefined();
  });

  it('never leaves administrative states on connection signals', () => {
    for (const s of ['maintenance', 'preparing_maintenance', 'install_failed'] as const) {
      expect(nextHostState(s, { kind: 'connected' })).toBeUndefined();
      expect(nextHostState(s, { kind: 'lost', reason: 'x' })).toBeUndefined();
      expect(nextHostState(s, tick(60_000))).toBeUndefined();
    }
  });
});
