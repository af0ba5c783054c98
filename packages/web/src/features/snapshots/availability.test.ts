import { describe, expect, it } from 'vitest';
import { snapshotAvailability } from './availability';

const ok = { id: 's1', state: 'ok' };
const ok2 = { id: 's2', state: 'ok' };

describe('snapshotAvailability', () => {
  it('a running VM: snapshots with or without memory, live merge, but no preview or revert', () => {
    const a = snapshotAvailability('up', [ok], true);
    expect(a).toMatchObject({ create: true, createWithMemory: true, commit: false, undo: false });
    expect(a.perSnapshot(ok)).toEqual({ delete: true, preview: false, revert: false });
    expect(a.reason).toBeUndefined();
  });

  it('a VM that is down: cold snapshots without memory, preview, revert and cold merge', () => {
    const a = snapshotAvailability('down', [ok], true);
    expect(a).toMatchObject({ create: true, createWithMemory: false, commit: false, undo: false });
    expect(a.perSnapshot(ok)).toEqual({ delete: true, preview: true, revert: true });
  });

  it('while previewing only commit and undo are offered', () => {
    const preview = { id: 's1', state: 'in_preview' };
    const a = snapshotAvailability('down', [preview, ok2], true);
    expect(a).toMatchObject({ create: false, createWithMemory: false, commit: true, undo: true });
    expect(a.perSnapshot(ok2)).toEqual({ delete: false, preview: false, revert: false });
    expect(a.perSnapshot(preview)).toEqual({ delete: false, preview: false, revert: false });
    expect(a.reason).toBe('snapshot.reason.previewing');
    // Started on the preview: commit and undo wait until it is down again.
    const running = snapshotAvailability('up', [preview], true);
    expect(running).toMatchObject({ commit: false, undo: false, create: false });
  });

  it('a snapshot operation in progress blocks every other one', () => {
    for (const state of ['creating', 'deleting']) {
      const a = snapshotAvailability('down', [{ id: 'x', state }, ok2], true);
      expect(a).toMatchObject({ create: false, commit: false, undo: false, reason: 'snapshot.reason.busy' });
      expect(a.perSnapshot(ok2)).toEqual({ delete: false, preview: false, revert: false });
    }
  });

  it('an illegal snapshot can only be deleted again (to finish its merge)', () => {
    const bad = { id: 'b', state: 'illegal' };
    expect(snapshotAvailability('down', [bad], true).perSnapshot(bad)).toEqual({
      delete: true,
      preview: false,
      revert: false,
    });
  });

  it('nothing in transitional VM states or without disks', () => {
    for (const vm of ['starting', 'paused', 'powering_down', 'migrating', 'unknown']) {
      const a = snapshotAvailability(vm, [ok], true);
      expect(a.create, vm).toBe(false);
      expect(a.perSnapshot(ok), vm).toEqual({ delete: false, preview: false, revert: false });
      expect(a.reason).toBe('snapshot.reason.vmState');
    }
    const none = snapshotAvailability('down', [], false);
    expect(none).toMatchObject({ create: false, reason: 'snapshot.reason.noDisks' });
  });
});
