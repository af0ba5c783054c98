import type { IsoFileList } from '@vireo/api';
import { printList } from '../common/output';
import type { CommandSpec } from '../../framework/spec';
import { resolveArg } from '../common/crud';
import { domainArg, storageDomainKind } from './kind';

type IsoFile = IsoFileList['files'][number];

export const storageDomainIsos: CommandSpec = {
  path: ['storage-domain', 'isos'],
  summary: 'list the ISO files of an active ISO domain',
  args: [domainArg],
  async run(ctx) {
    const { client, object } = await resolveArg(ctx, storageDomainKind, ctx.args[0]);
    const list = await client.get<IsoFileList>(`/storage-domains/${object.id}/isos`, {
      signal: ctx.session.signal,
    });
    printList<IsoFile>(ctx, list.files, [
      { header: 'NAME', value: (f) => f.name, minWidth: 10 },
      {
        header: 'SIZE',
        value: (f) => `${(f.size_bytes / 1024 ** 2).toFixed(1)} MiB`,
        overflow: 'fixed',
        align: 'right',
      },
      { header: 'MODIFIED', value: (f) => f.modified_at.replace(/\.\d+Z$/, 'Z'), minWidth: 10 },
    ]);
    return 0;
  },
};
