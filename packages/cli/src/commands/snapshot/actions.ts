import type { Snapshot } from '@vireo/api';
import type { CommandSpec } from '../../framework/spec';
import { resolveArg } from '../common/crud';
import { vmKind } from '../common/kinds';
import { finishMutation, WAIT_OPTIONS } from '../common/mutation';
import { resolveSnapshot, VM_ARG } from './list';

const SNAPSHOT_ARG = {
  name: 'snapshot',
  description: 'the snapshot: its id, or its description when no other snapshot of the VM has it',
  required: true,
} as const;

/** `vireo snapshot create <vm>`: all of the VM's disks at once; live when it runs. */
export const snapshotCreate: CommandSpec = {
  path: ['snapshot', 'create'],
  summary: "take a snapshot of all the VM's disks (live when it runs)",
  args: [VM_ARG],
  options: [
    { flags: '--description <text>', description: 'what the snapshot is for' },
    { flags: '--memory', description: 'also save the RAM and device state (the VM must run)' },
    ...WAIT_OPTIONS,
  ],
  async run(ctx) {
    const { client, object } = await resolveArg(ctx, vmKind, ctx.args[0]);
    const body = {
      ...(ctx.opts.description !== undefined ? { description: String(ctx.opts.description) } : {}),
      ...(ctx.opts.memory ? { memory: true } : {}),
    };
    const result = await client.create<{ snapshot: Snapshot }>(`/vms/${object.id}/snapshots`, body, {
      signal: ctx.session.signal,
    });
    return finishMutation(ctx, client, result, { done: `snapshot of VM ${object.name} taken` });
  },
};

/** `vireo snapshot delete <vm> <snapshot>`: merges its volume (live when the VM runs). */
export const snapshotDelete: CommandSpec = {
  path: ['snapshot', 'delete'],
  summary: 'delete a snapshot (its volume is merged; live when the VM runs)',
  args: [VM_ARG, SNAPSHOT_ARG],
  options: WAIT_OPTIONS,
  async run(ctx) {
    const { client, object } = await resolveArg(ctx, vmKind, ctx.args[0]);
    const sid = await resolveSnapshot(client, object, String(ctx.args[1]), ctx.session.signal);
    const result = await client.delete(`/vms/${object.id}/snapshots/${sid}`, { signal: ctx.session.signal });
    return finishMutation(ctx, client, result, { done: `snapshot ${sid} deleted` });
  },
};

function snapshotAction(action: 'preview' | 'revert', summary: string): CommandSpec {
  return {
    path: ['snapshot', action],
    summary,
    args: [VM_ARG, SNAPSHOT_ARG],
    options: WAIT_OPTIONS,
    async run(ctx) {
      const { client, object } = await resolveArg(ctx, vmKind, ctx.args[0]);
      const sid = await resolveSnapshot(client, object, String(ctx.args[1]), ctx.session.signal);
      const result = await client.action(`/vms/${object.id}/snapshots/${sid}`, action, undefined, {
        signal: ctx.session.signal,
      });
      return finishMutation(ctx, client, result, {
        done: `${action}: VM ${object.name}, snapshot ${sid}`,
      });
    },
  };
}

function previewEnd(how: 'commit' | 'undo', summary: string): CommandSpec {
  return {
    path: ['snapshot', how],
    summary,
    args: [VM_ARG],
    options: WAIT_OPTIONS,
    async run(ctx) {
      const { client, object } = await resolveArg(ctx, vmKind, ctx.args[0]);
      const result = await client.action(`/vms/${object.id}/snapshots`, how, undefined, {
        signal: ctx.session.signal,
      });
      return finishMutation(ctx, client, result, { done: `${how}: snapshot preview of VM ${object.name}` });
    },
  };
}

export const snapshotPreview = snapshotAction(
  'preview',
  'run the (down) VM on a throw-away overlay of a snapshot',
);
export const snapshotRevert = snapshotAction(
  'revert',
  'return the (down) VM to a snapshot, dropping what came after it',
);
export const snapshotCommit = previewEnd('commit', 'keep the previewed state (later snapshots are dropped)');
export const snapshotUndo = previewEnd('undo', 'drop the preview and return to the state before it');
