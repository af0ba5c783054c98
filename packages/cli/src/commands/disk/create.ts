import type { CommandSpec } from '../../framework/spec';
import { usageError } from '../../framework/errors';
import { resolveArg } from '../common/crud';
import { createObject } from '../common/create';
import { WAIT_OPTIONS } from '../common/mutation';
import { storageDomainKind } from '../storage-domain/kind';
import { diskKind, parseSize } from './kind';

export const diskCreate: CommandSpec = {
  path: ['disk', 'create'],
  aliases: ['add'],
  summary: 'create a floating disk in a data domain (thin qcow2 by default)',
  args: [{ name: 'name', description: 'name of the new disk', required: true }],
  options: [
    { flags: '--storage-domain <name|id>', description: 'the data domain (required)' },
    { flags: '--size <size>', description: 'virtual size: 10 or 10G (GiB), 512M (MiB)' },
    { flags: '--format <qcow2|raw>', description: 'image format (default qcow2)' },
    { flags: '--preallocation <off|metadata|falloc|full>', description: 'space reservation (default off)' },
    { flags: '--shareable', description: 'may be attached to several VMs (raw only)' },
    {
      flags: '--encrypt',
      description:
        "LUKS-encrypt it with a key the engine keeps (qcow2 only; default: the engine's disks.encrypt_by_default)",
    },
    { flags: '--no-encrypt', description: 'a plain disk even when the engine encrypts by default' },
    { flags: '--encrypted', description: 'the same as --encrypt' },
    { flags: '-d, --description <text>', description: 'free-text description' },
    ...WAIT_OPTIONS,
  ],
  async run(ctx) {
    const o = ctx.opts;
    if (o.storageDomain === undefined) throw usageError('--storage-domain is required');
    const size = parseSize(o.size);
    if (!size) {
      throw usageError(
        o.size === undefined
          ? '--size is required: a whole number of GiB (10 or 10G), or MiB with an M suffix (512M)'
          : `--size ${String(o.size)}: expected a whole number of GiB (10 or 10G), or MiB with an M suffix (512M)`,
      );
    }
    if (o.format !== undefined && !['qcow2', 'raw'].includes(String(o.format))) {
      throw usageError('--format is qcow2 or raw');
    }
    if (
      o.preallocation !== undefined &&
      !['off', 'metadata', 'falloc', 'full'].includes(String(o.preallocation))
    ) {
      throw usageError('--preallocation is off, metadata, falloc or full');
    }
    const domain = (await resolveArg(ctx, storageDomainKind, o.storageDomain)).object;
    const body: Record<string, unknown> = { name: ctx.args[0], storage_domain_id: domain.id, ...size };
    if (o.format !== undefined) body.format = String(o.format);
    if (o.preallocation !== undefined) body.preallocation = String(o.preallocation);
    if (o.shareable) body.shareable = true;
    if (o.encrypted && o.encrypt === false)
      throw usageError('--encrypted and --no-encrypt contradict each other');
    // Neither flag: the engine's default decides (encrypted qcow2 unless disks.encrypt_by_default is off).
    if (o.encrypt === true || o.encrypted) body.encrypted = true;
    else if (o.encrypt === false) body.encrypted = false;
    if (o.description !== undefined) body.description = String(o.description);
    return createObject(ctx, diskKind, body);
  },
};
