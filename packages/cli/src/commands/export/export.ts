import type { ExportList } from '@vireo/api';
import { isUuid, type VireoClient } from '@vireo/client';
import { CliError, ExitCode, usageError } from '../../framework/errors';
import type { CommandSpec } from '../../framework/spec';
import { resolveArg } from '../common/crud';
import { clusterKind, type ResourceKind, vmKind } from '../common/kinds';
import { finishMutation, WAIT_OPTIONS } from '../common/mutation';
import { printList } from '../common/output';
import { domainArg, storageDomainKind } from '../storage-domain/kind';
import { templateKind } from '../template/templates';

const MiB = 1024 ** 2;

const DOMAIN_OPTION = {
  flags: '--domain <name|id>',
  description: 'the export storage domain (required)',
  complete: { kind: 'resource' as const, resource: 'storage-domain' },
};

function exportCommand<T extends { id: string; name: string }>(
  noun: 'vm' | 'template',
  kind: ResourceKind<T>,
): CommandSpec {
  return {
    path: [noun, 'export'],
    summary: `export a ${noun === 'vm' ? 'VM that is down' : 'template'} to an export domain (OVF + disks, or --ova)`,
    args: [{ name: noun, description: `the ${noun} (name or id)`, required: true }],
    options: [
      DOMAIN_OPTION,
      { flags: '--ova', description: 'write one OVA file (ova/<name>.ova) instead of OVF + disk images' },
      { flags: '--overwrite', description: 'replace an export of the same object (or OVA of the same name)' },
      ...WAIT_OPTIONS,
    ],
    async run(ctx) {
      if (ctx.opts.domain === undefined) throw usageError('--domain is required: the export domain');
      const { client, object } = await resolveArg(ctx, kind, ctx.args[0]);
      const domain = (await resolveArg(ctx, storageDomainKind, String(ctx.opts.domain))).object;
      const body: Record<string, unknown> = {
        storage_domain_id: domain.id,
        format: ctx.opts.ova ? 'ova' : 'ovf',
      };
      if (ctx.opts.overwrite) body.overwrite = true;
      const result = await client.create(
        `/${noun === 'vm' ? 'vms' : 'templates'}/${object.id}/export`,
        body,
        {
          signal: ctx.session.signal,
        },
      );
      return finishMutation(ctx, client, result, {
        done: `${noun} ${object.name} exported to ${domain.name}`,
      });
    },
  };
}

/** `vireo vm export NAME --domain EXP [--ova]`. */
export const vmExport = exportCommand('vm', vmKind);
/** `vireo template export NAME --domain EXP [--ova]`. */
export const templateExport = exportCommand('template', templateKind);

/** `vireo export list EXP`: what an export domain holds, read from its storage. */
export const exportList: CommandSpec = {
  path: ['export', 'list'],
  summary: 'list the VMs and templates on an export domain (OVF and OVA), read from the storage',
  args: [domainArg],
  async run(ctx) {
    const { client, object } = await resolveArg(ctx, storageDomainKind, ctx.args[0]);
    const list = await client.get<ExportList>(`/storage-domains/${object.id}/exports`, {
      signal: ctx.session.signal,
    });
    printList(ctx, list.items, [
      { header: 'KIND', value: (e) => e.kind, overflow: 'fixed' },
      { header: 'NAME', value: (e) => e.name, minWidth: 8 },
      { header: 'ID', value: (e) => e.id, overflow: 'fixed' },
      { header: 'FORMAT', value: (e) => e.format, overflow: 'fixed' },
      { header: 'DISKS', value: (e) => String(e.disks.length), overflow: 'fixed', align: 'right' },
      {
        header: 'SIZE',
        value: (e) => `${Math.round(e.disks.reduce((a, d) => a + d.size_bytes, 0) / MiB)} MiB`,
        overflow: 'fixed',
        align: 'right',
      },
      { header: 'EXPORTED', value: (e) => e.exported_at ?? '', overflow: 'fixed' },
      // `foreign`: an OVA another platform wrote (VirtualBox, VMware, oVirt); see its warnings.
      { header: 'ORIGIN', value: (e) => e.origin, overflow: 'fixed' },
    ]);
    for (const e of list.items) for (const w of e.warnings) ctx.session.info(`${e.name}: ${w}`);
    for (const bad of list.invalid) ctx.session.info(`not a valid export: ${bad.path}: ${bad.reason}`);
    return 0;
  },
};

/**
 * The exported entity an import argument names: its id, or its name when one VM or template of that
 * name is on the domain (an OVF and an OVA copy of one VM share its id). The list shows names, so
 * people type them; the API takes ids.
 */
export async function resolveExport(
  client: VireoClient,
  domain: { id: string; name: string },
  arg: string,
  signal?: AbortSignal,
): Promise<{ id: string; label: string }> {
  const list = await client.get<ExportList>(`/storage-domains/${domain.id}/exports`, { signal });
  const byId = list.items.find((e) => e.id === arg);
  if (byId) return { id: byId.id, label: `${byId.kind} ${byId.name}` };
  if (isUuid(arg)) return { id: arg, label: arg };
  const matches = list.items.filter((e) => e.name === arg);
  const ids = new Set(matches.map((e) => e.id));
  if (ids.size === 1) {
    const e = matches[0] as (typeof matches)[number];
    return { id: e.id, label: `${e.kind} ${e.name}` };
  }
  if (ids.size > 1) {
    throw new CliError(
      'ambiguous_name',
      `several exports on ${domain.name} are named ${arg}; give the id (vireo export list ${domain.name})`,
      ExitCode.usage,
    );
  }
  throw new CliError(
    'export_not_found',
    `export domain ${domain.name} holds no VM or template named ${arg} (vireo export list ${domain.name})`,
    ExitCode.notFound,
  );
}

/** `vireo vm import EXP ID --cluster C --domain DATA [--name N] [--rename] [--new-ids] [--ova]`. */
export const vmImport: CommandSpec = {
  path: ['vm', 'import'],
  summary: 'import a VM (or template) from an export domain onto a data domain',
  args: [
    { ...domainArg, description: 'the export domain (name or id)' },
    {
      name: 'export',
      description: 'the exported VM or template: its id, or its name when unique (see: vireo export list)',
      required: true,
    },
  ],
  options: [
    {
      flags: '--cluster <name|id>',
      description: 'the cluster of the new VM (required)',
      complete: { kind: 'resource', resource: 'cluster' },
    },
    { ...DOMAIN_OPTION, description: 'the data domain that receives the disks (required)' },
    { flags: '--name <name>', description: 'a name other than the exported one' },
    { flags: '--rename', description: 'on a name clash take name-1, name-2… instead of failing' },
    { flags: '--new-ids', description: 'new ids and MACs (needed while the exported VM still exists here)' },
    { flags: '--ova', description: 'import the OVA copy when the domain holds both' },
    { flags: '--bridge <name>', description: "foreign OVAs: put the VM's NICs on this host bridge" },
    ...WAIT_OPTIONS,
  ],
  async run(ctx) {
    if (ctx.opts.cluster === undefined) throw usageError('--cluster is required');
    if (ctx.opts.domain === undefined) throw usageError('--domain is required: the target data domain');
    const { client, object } = await resolveArg(ctx, storageDomainKind, ctx.args[0]);
    const cluster = await clusterKind.api(client).resolve(String(ctx.opts.cluster), {}, ctx.session.signal);
    const target = (await resolveArg(ctx, storageDomainKind, String(ctx.opts.domain))).object;
    const body: Record<string, unknown> = { cluster_id: cluster.id, storage_domain_id: target.id };
    if (ctx.opts.name !== undefined) body.name = String(ctx.opts.name);
    if (ctx.opts.rename) body.on_clash = 'rename';
    if (ctx.opts.newIds) body.new_ids = true;
    if (ctx.opts.ova) body.source = 'ova';
    if (ctx.opts.bridge !== undefined) body.bridge = String(ctx.opts.bridge);
    const { id, label } = await resolveExport(client, object, String(ctx.args[1]), ctx.session.signal);
    const result = await client.create(
      `/storage-domains/${object.id}/exports/${encodeURIComponent(id)}/import`,
      body,
      { signal: ctx.session.signal },
    );
    return finishMutation(ctx, client, result, { done: `${label} imported from ${object.name}` });
  },
};
