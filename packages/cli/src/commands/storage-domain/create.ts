import type { CommandSpec } from '../../framework/spec';
import { usageError } from '../../framework/errors';
import { createObject } from '../common/create';
import { hostKind } from '../common/kinds';
import { WAIT_OPTIONS } from '../common/mutation';
import { storageDomainKind } from './kind';

export const storageDomainCreate: CommandSpec = {
  path: ['storage-domain', 'create'],
  aliases: ['add'],
  summary: 'create a storage domain (local: --host --path; posix: --path; nfs: --server --export)',
  args: [{ name: 'name', description: 'name of the new storage domain', required: true }],
  options: [
    { flags: '--kind <data|iso|export>', description: 'what it holds (default data)' },
    {
      flags: '--backend <local|posix|nfs>',
      description: 'where it lives (default local with --host, else posix)',
    },
    {
      flags: '--host <name|id>',
      description: 'local: the host the directory is on',
      complete: { kind: 'resource', resource: 'host' },
    },
    { flags: '--path <dir>', description: 'local/posix: the parent directory of the domain' },
    { flags: '--server <host>', description: 'nfs: the server' },
    { flags: '--export <path>', description: 'nfs: the exported path' },
    { flags: '--mount-options <opts>', description: 'nfs: extra mount options, e.g. nfsvers=4.2' },
    { flags: '-d, --description <text>', description: 'free-text description' },
    ...WAIT_OPTIONS,
  ],
  async run(ctx) {
    const o = ctx.opts;
    const backend = String(
      o.backend ?? (o.server !== undefined ? 'nfs' : o.host !== undefined ? 'local' : 'posix'),
    );
    if (!['local', 'posix', 'nfs'].includes(backend)) throw usageError('--backend is local, posix or nfs');
    const body: Record<string, unknown> = { name: ctx.args[0], kind: String(o.kind ?? 'data'), backend };
    if (o.description !== undefined) body.description = o.description;
    if (o.path !== undefined) body.path = o.path;
    if (o.server !== undefined) body.nfs_server = o.server;
    if (o.export !== undefined) body.nfs_export = o.export;
    if (o.mountOptions !== undefined) body.mount_options = o.mountOptions;
    if (o.host !== undefined) {
      const { client } = await ctx.session.connect(o.profile);
      body.host_id = (await hostKind.api(client).resolve(String(o.host), {}, ctx.session.signal)).id;
    }
    return createObject(ctx, storageDomainKind, body);
  },
};
