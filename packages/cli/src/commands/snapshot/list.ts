import type { Snapshot, SnapshotList } from '@vireo/api';
import { isUuid, type VireoClient } from '@vireo/client';
import { CliError, ExitCode } from '../../framework/errors';
import type { CommandSpec } from '../../framework/spec';
import { resolveArg } from '../common/crud';
import { vmKind } from '../common/kinds';
import { printList } from '../common/output';

export const VM_ARG = { name: 'vm', description: 'the VM (name or id)', required: true } as const;

/** `vireo snapshot list <vm>`: the VM's snapshots, oldest first. */
export const snapshotList: CommandSpec = {
  path: ['snapshot', 'list'],
  summary: "list a VM's snapshots, oldest first",
  args: [VM_ARG],
  async run(ctx) {
    const { client, object } = await resolveArg(ctx, vmKind, ctx.args[0]);
    const list = await client.get<SnapshotList>(`/vms/${object.id}/snapshots`, {
      signal: ctx.session.signal,
    });
    printList<Snapshot>(ctx, list.items, [
      { header: 'ID', value: (s) => s.id, minWidth: 36, overflow: 'fixed' },
      { header: 'STATE', value: (s) => s.state, minWidth: 8 },
      { header: 'MEMORY', value: (s) => (s.memory ? 'yes' : 'no'), overflow: 'fixed' },
      { header: 'CREATED', value: (s) => s.created_at.replace(/\.\d+Z$/, 'Z'), minWidth: 10 },
      { header: 'DESCRIPTION', value: (s) => s.description, minWidth: 10 },
    ]);
    return 0;
  },
};

/**
 * A snapshot argument: its id, or its exact description when exactly one of the VM's snapshots has
 * it (the list shows descriptions, so people type them; the API only takes ids).
 */
export async function resolveSnapshot(
  client: VireoClient,
  vm: { id: string; name: string },
  arg: string,
  signal?: AbortSignal,
): Promise<string> {
  if (isUuid(arg)) return arg;
  const list = await client.get<SnapshotList>(`/vms/${vm.id}/snapshots`, { signal });
  const matches = list.items.filter((s) => s.description === arg);
  if (matches.length === 1) return (matches[0] as Snapshot).id;
  if (matches.length > 1) {
    throw new CliError(
      'ambiguous_name',
      `${matches.length} snapshots of VM ${vm.name} are described "${arg}"; give the id (vireo snapshot list ${vm.name})`,
      ExitCode.usage,
    );
  }
  throw new CliError(
    'snapshot_not_found',
    `VM ${vm.name} has no snapshot with the id or description "${arg}" (vireo snapshot list ${vm.name})`,
    ExitCode.notFound,
  );
}
