import type { CommandSpec } from '../../framework/spec';
import { createObject } from '../common/create';
import { clusterKind, vmKind } from '../common/kinds';
import { parseSet, SET_OPTION, WAIT_OPTIONS } from '../common/mutation';
import { createVmFromTemplate } from '../template/templates';
import { CDROM_HELP, cdromBody } from './cdrom';
import { applyHardware, HARDWARE_OPTIONS, parseDisk, parseNic } from './options';

export const vmCreate: CommandSpec = {
  path: ['vm', 'create'],
  aliases: ['add'],
  summary: 'create a VM in a cluster (it stays down until started)',
  args: [{ name: 'name', description: 'name of the new VM', required: true }],
  options: [
    {
      flags: '--cluster <name|id>',
      description: 'cluster the VM belongs to (required)',
      complete: { kind: 'resource', resource: 'cluster' },
    },
    ...HARDWARE_OPTIONS,
    {
      flags: '--disk <size_gib[:format[:interface]]>',
      description: 'a new blank disk, e.g. 10 or 10:qcow2:virtio (repeatable)',
      repeatable: true,
    },
    { flags: '--cdrom <[iso-domain:]file>', description: CDROM_HELP },
    {
      flags: '--nic <user|bridge=NAME[,mac=MAC][,model=M]>',
      description: 'a network interface: user-mode, or a tap on an existing host bridge (repeatable)',
      repeatable: true,
    },
    {
      flags: '--template <name|id>',
      description: 'create from a template: thin clone (overlays), or --full-clone to copy its disks',
      complete: { kind: 'resource', resource: 'template' },
    },
    { flags: '--full-clone', description: 'with --template: independent copies of the template disks' },
    SET_OPTION,
    ...WAIT_OPTIONS,
  ],
  async run(ctx) {
    if (ctx.opts.template !== undefined) {
      // The template gives the hardware and disks: templates.ts, POST /templates/{id}/vms.
      return createVmFromTemplate(
        ctx,
        String(ctx.opts.template),
        String(ctx.args[0]),
        Boolean(ctx.opts.fullClone),
      );
    }
    const body: Record<string, unknown> = { ...parseSet(ctx.opts.set), name: ctx.args[0] };
    if (ctx.opts.cluster !== undefined) {
      const { client } = await ctx.session.connect(ctx.opts.profile);
      body.cluster_id = (
        await clusterKind.api(client).resolve(String(ctx.opts.cluster), {}, ctx.session.signal)
      ).id;
    }
    applyHardware(ctx, body);
    const disks = (ctx.opts.disk as string[] | undefined) ?? [];
    if (disks.length > 0) body.disks = disks.map(parseDisk);
    const nics = (ctx.opts.nic as string[] | undefined) ?? [];
    if (nics.length > 0) body.nics = nics.map(parseNic);
    if (ctx.opts.cdrom !== undefined) {
      const connect = async () => (await ctx.session.connect(ctx.opts.profile)).client;
      body.cdrom = await cdromBody(String(ctx.opts.cdrom), connect, ctx.session.signal);
    }
    return createObject(ctx, vmKind, body);
  },
};
