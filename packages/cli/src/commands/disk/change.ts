import type { CommandSpec } from '../../framework/spec';
import { usageError } from '../../framework/errors';
import { updateObject } from '../common/create';
import { resolveArg } from '../common/crud';
import { fetchTarget } from '../common/create';
import { finishMutation, WAIT_OPTIONS } from '../common/mutation';
import { storageDomainKind } from '../storage-domain/kind';
import { diskArg, diskKind, parseSize } from './kind';

export const diskExtend: CommandSpec = {
  path: ['disk', 'extend'],
  summary: 'grow a disk (online when its VM runs; disks never shrink)',
  args: [
    diskArg,
    { name: 'size', description: 'the new virtual size: 20 or 20G (GiB), 512M (MiB)', required: true },
  ],
  options: WAIT_OPTIONS,
  async run(ctx) {
    const size = parseSize(ctx.args[1]);
    if (!size) {
      throw usageError(
        `size ${String(ctx.args[1])}: expected a whole number of GiB (20 or 20G), or MiB with an M suffix (512M)`,
      );
    }
    return updateObject(ctx, diskKind, ctx.args[0], size);
  },
};

function transfer(action: 'move' | 'copy', summary: string): CommandSpec {
  return {
    path: ['disk', action],
    summary,
    args: [
      diskArg,
      { name: 'storage-domain', description: 'the target data domain (name or id)', required: true },
    ],
    options: [
      ...(action === 'copy'
        ? [{ flags: '--name <name>', description: 'name of the copy (default <name>-copy)' }]
        : []),
      ...WAIT_OPTIONS,
    ],
    async run(ctx) {
      const { client, object } = await resolveArg(ctx, diskKind, ctx.args[0]);
      const domain = (await resolveArg(ctx, storageDomainKind, ctx.args[1])).object;
      const body: Record<string, unknown> = { storage_domain_id: domain.id };
      if (ctx.opts.name !== undefined) body.name = String(ctx.opts.name);
      const result = await diskKind
        .api(client)
        .action(object.id, action, body, { signal: ctx.session.signal });
      return finishMutation(ctx, client, result, {
        done: `${action}: disk ${object.name} to ${domain.name} done`,
        afterSuccess: fetchTarget(client, diskKind),
      });
    },
  };
}

export const diskMove = transfer(
  'move',
  'move a disk to another data domain (its VMs must be down; --wait shows progress)',
);
export const diskCopy = transfer(
  'copy',
  'copy a disk into a new disk in a data domain (--wait shows progress)',
);
