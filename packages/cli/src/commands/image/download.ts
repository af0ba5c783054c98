import { downloadImage } from '@vireo/client';
import { ExitCode } from '../../framework/errors';
import type { CommandSpec } from '../../framework/spec';
import { printObject } from '../common/output';
import { progressBar } from './progress';
import { resolveByName } from './resolve';

export const imageDownload: CommandSpec = {
  path: ['image', 'download'],
  summary: "download a disk's image to a file (streamed, resumed after a broken connection)",
  args: [
    {
      name: 'disk',
      description: 'disk name or id (the disk must have no snapshots and no running VM)',
      required: true,
    },
    { name: 'file', description: 'the local file to write', required: true },
  ],
  async run(ctx) {
    const { client } = await ctx.session.connect(ctx.opts.profile);
    const signal = ctx.session.signal;
    const disk = await resolveByName(client, 'disks', String(ctx.args[0]), signal);
    const file = String(ctx.args[1]);
    const bar = progressBar(ctx.session.io.stderr, file);
    try {
      const transfer = await downloadImage(client, {
        diskId: disk.id,
        file,
        onProgress: (done, total) => bar.update(done, total),
        signal,
      });
      printObject(ctx, transfer);
      return ExitCode.ok;
    } finally {
      bar.finish();
    }
  },
};
