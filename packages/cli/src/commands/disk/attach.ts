import { ResourceApi } from '@vireo/client';
import type { CommandSpec } from '../../framework/spec';
import { usageError } from '../../framework/errors';
import { resolveArg } from '../common/crud';
import { vmKind } from '../common/kinds';
import { finishMutation, WAIT_OPTIONS } from '../common/mutation';
import { diskArg, diskKind } from './kind';

const vmArg = { name: 'vm', description: "the VM's name or id", required: true } as const;

export const diskAttach: CommandSpec = {
  path: ['disk', 'attach'],
  summary: 'attach a disk to a VM (hot-plug when it runs)',
  args: [diskArg, vmArg],
  options: [
    { flags: '--interface <virtio|scsi|ide|sata>', description: 'bus the guest sees (default virtio)' },
    { flags: '--bootable', description: 'boot from this disk' },
    { flags: '--inactive', description: 'attach without giving it to the VM' },
    ...WAIT_OPTIONS,
  ],
  async run(ctx) {
    const o = ctx.opts;
    if (o.interface !== undefined && !['virtio', 'scsi', 'ide', 'sata'].includes(String(o.interface))) {
      throw usageError('--interface is virtio, scsi, ide or sata');
    }
    const { client, object: disk } = await resolveArg(ctx, diskKind, ctx.args[0]);
    const vm = (await resolveArg(ctx, vmKind, ctx.args[1])).object;
    const body: Record<string, unknown> = { disk_id: disk.id };
    if (o.interface !== undefined) body.interface = String(o.interface);
    if (o.bootable) body.bootable = true;
    if (o.inactive) body.active = false;
    const api = new ResourceApi(client, `/vms/${vm.id}/disk-attachments`, 'disk_attachment');
    const result = await api.create(body, { signal: ctx.session.signal });
    return finishMutation(ctx, client, result, { done: `attached disk ${disk.name} to VM ${vm.name}` });
  },
};

export const diskDetach: CommandSpec = {
  path: ['disk', 'detach'],
  summary: 'detach a disk from a VM (hot-unplug when it runs; the disk stays)',
  args: [diskArg, vmArg],
  options: WAIT_OPTIONS,
  async run(ctx) {
    const { client, object: disk } = await resolveArg(ctx, diskKind, ctx.args[0]);
    const vm = (await resolveArg(ctx, vmKind, ctx.args[1])).object;
    const api = new ResourceApi(client, `/vms/${vm.id}/disk-attachments`, 'disk_attachment');
    const result = await api.delete(disk.id, { signal: ctx.session.signal });
    return finishMutation(ctx, client, result, { done: `detached disk ${disk.name} from VM ${vm.name}` });
  },
};
