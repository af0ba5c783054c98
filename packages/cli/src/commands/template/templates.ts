import type { Template } from '@vireo/api';
import { ResourceApi, type VireoClient } from '@vireo/client';
import { usageError } from '../../framework/errors';
import type { CommandContext, CommandSpec } from '../../framework/spec';
import { createObject, fetchTarget } from '../common/create';
import { deleteCommand, listCommand, showCommand } from '../common/crud';
import { type ResourceKind, vmKind } from '../common/kinds';
import { finishMutation, WAIT_OPTIONS } from '../common/mutation';

/** `template`: the client has no typed accessor for it, so the generic resource API is used. */
export const templateKind: ResourceKind<Template> = {
  noun: 'template',
  label: 'template',
  api: (c: VireoClient) => new ResourceApi<Template>(c, '/templates', 'template'),
  named: true,
  columns: [
    { header: 'NAME', value: (t) => t.name, minWidth: 10 },
    { header: 'ID', value: (t) => t.id, minWidth: 8 },
    { header: 'STATE', value: (t) => t.state, overflow: 'fixed' },
    { header: 'CPUS', value: (t) => String(t.cpus), overflow: 'fixed', align: 'right' },
    { header: 'MEMORY', value: (t) => `${t.memory_mib} MiB`, overflow: 'fixed', align: 'right' },
    { header: 'DISKS', value: (t) => String(t.disks.length), overflow: 'fixed', align: 'right' },
    { header: 'DESCRIPTION', value: (t) => t.description, overflow: 'wrap', minWidth: 12 },
  ],
};

export const templateList = listCommand(templateKind);
export const templateShow = showCommand(templateKind);
export const templateDelete = deleteCommand(templateKind);

/** `vireo template create <name> --vm <vm>`: copies the (down) VM's disks into a new template. */
export const templateCreate: CommandSpec = {
  path: ['template', 'create'],
  summary: 'make a template of a VM that is down (its disks are copied, flattened)',
  args: [{ name: 'name', description: 'name of the new template', required: true }],
  options: [
    {
      flags: '--vm <name|id>',
      description: 'the VM to copy (required; must be down)',
      complete: { kind: 'resource', resource: 'vm' },
    },
    { flags: '--description <text>', description: 'what the template is for' },
    {
      flags: '--seal',
      description: "reset the guest's machine-id and hostname in the copies (Linux on ext4/xfs/btrfs)",
    },
    ...WAIT_OPTIONS,
  ],
  async run(ctx) {
    if (ctx.opts.vm === undefined) throw usageError('--vm is required');
    const { client } = await ctx.session.connect(ctx.opts.profile);
    const vm = await vmKind.api(client).resolve(String(ctx.opts.vm), {}, ctx.session.signal);
    return createObject(ctx, templateKind, {
      name: ctx.args[0],
      vm_id: vm.id,
      ...(ctx.opts.description !== undefined ? { description: String(ctx.opts.description) } : {}),
      ...(ctx.opts.seal ? { seal: true } : {}),
    });
  },
};

/**
 * Creates VM `name` from `template` (name or id): thin (overlays on the template's volumes) unless
 * `full`. Used by `vireo template clone` and `vireo vm create --template`.
 */
export async function createVmFromTemplate(
  ctx: CommandContext,
  template: string,
  name: string,
  full: boolean,
): Promise<number> {
  const { client } = await ctx.session.connect(ctx.opts.profile);
  const t = await templateKind.api(client).resolve(template, {}, ctx.session.signal);
  const result = await client.create(
    `/templates/${t.id}/vms`,
    { name, clone: full ? 'full' : 'thin' },
    { signal: ctx.session.signal },
  );
  return finishMutation(ctx, client, result, {
    done: `created VM ${name} as a ${full ? 'full' : 'thin'} clone of template ${t.name}`,
    afterSuccess: fetchTarget(client, vmKind),
  });
}

/** `vireo template clone <template> <vm-name> [--full]`. */
export const templateClone: CommandSpec = {
  path: ['template', 'clone'],
  summary: 'create a VM from a template (thin overlays by default, --full for independent copies)',
  args: [
    {
      name: 'template',
      description: "the template's name or id",
      required: true,
      complete: { kind: 'resource', resource: 'template' },
    },
    { name: 'name', description: 'name of the new VM', required: true },
  ],
  options: [{ flags: '--full', description: 'copy the disks instead of overlaying them' }, ...WAIT_OPTIONS],
  run: (ctx) => createVmFromTemplate(ctx, String(ctx.args[0]), String(ctx.args[1]), Boolean(ctx.opts.full)),
};
