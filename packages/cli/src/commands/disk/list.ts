import type { ListQuery } from '@vireo/client';
import { listCommand, resolveArg, showCommand, deleteCommand } from '../common/crud';
import { vmKind } from '../common/kinds';
import { storageDomainKind } from '../storage-domain/kind';
import { diskKind } from './kind';

export const diskList = listCommand(diskKind, {
  options: [
    { flags: '--storage-domain <name|id>', description: 'only disks in this storage domain' },
    {
      flags: '--vm <name|id>',
      description: 'only disks attached to this VM',
      complete: { kind: 'resource', resource: 'vm' },
    },
  ],
  async query(ctx) {
    const q: ListQuery & Record<string, unknown> = {};
    if (ctx.opts.storageDomain !== undefined) {
      q.storage_domain_id = (await resolveArg(ctx, storageDomainKind, ctx.opts.storageDomain)).object.id;
    }
    if (ctx.opts.vm !== undefined) q.vm_id = (await resolveArg(ctx, vmKind, ctx.opts.vm)).object.id;
    return q;
  },
});

export const diskShow = showCommand(diskKind);
/** Deletes a disk and its volumes (refused while a running VM uses it). */
export const diskDelete = deleteCommand(diskKind);
