/** The snapshot fields the availability rules read (the API's `Snapshot`). */
export interface SnapshotLike {
  id: string;
  state: string;
}

/** What can be done with a VM's snapshots now; each rule mirrors the engine's (docs/snapshots.md). */
export interface SnapshotAvailability {
  /** Take a snapshot (disks only): running (live) or down (cold). */
  create: boolean;
  /** Take a snapshot with memory: only while running. */
  createWithMemory: boolean;
  /** Commit or undo the preview: the VM is down and runs on a preview. */
  commit: boolean;
  undo: boolean;
  /** Per snapshot id: delete (merge), preview, revert. */
  perSnapshot(s: SnapshotLike): { delete: boolean; preview: boolean; revert: boolean };
  /** Why buttons are off, as a message id, when one reason covers them (else undefined). */
  reason: string | undefined;
}

/** States in which a snapshot operation is running: the engine refuses another (`snapshot_busy`). */
const BUSY = new Set(['creating', 'deleting']);

/**
 * Which snapshot actions to offer for a VM in `vmState` with these snapshots. The engine checks
 * again; this only keeps buttons that would certainly be refused from being offered.
 */
export function snapshotAvailability(
  vmState: string,
  snapshots: readonly SnapshotLike[],
  hasDisks: boolean,
): SnapshotAvailability {
  const busy = snapshots.some((s) => BUSY.has(s.state));
  const previewing = snapshots.some((s) => s.state === 'in_preview');
  const down = vmState === 'down';
  const up = vmState === 'up';
  const calm = !busy && !previewing;
  let reason: string | undefined;
  if (!hasDisks) reason = 'snapshot.reason.noDisks';
  else if (busy) reason = 'snapshot.reason.busy';
  else if (previewing) reason = 'snapshot.reason.previewing';
  else if (!down && !up) reason = 'snapshot.reason.vmState';
  return {
    create: hasDisks && calm && (up || down),
    createWithMemory: hasDisks && calm && up,
    commit: down && previewing && !busy,
    undo: down && previewing && !busy,
    perSnapshot: (s) => {
      // An illegal snapshot is one whose merge stopped half way: deleting it again finishes it.
      const deletable = s.state === 'ok' || s.state === 'illegal';
      return {
        delete: calm && deletable && (up || down),
        preview: calm && down && s.state === 'ok',
        revert: calm && down && s.state === 'ok',
      };
    },
    reason,
  };
}
