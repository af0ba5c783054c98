import type { UnregisteredList } from '@vireo/api';
import { usageError } from '../../framework/errors';
import type { CommandSpec } from '../../framework/spec';
import { clusterKind } from '../common/kinds';
import { resolveArg } from '../common/crud';
import { finishMutation, WAIT_OPTIONS } from '../common/mutation';
import { printList } from '../common/output';
import { domainArg, storageDomainKind } from './kind';

/** One row per disk or VM the domain holds and this engine does not know. */
interface Row {
  kind: string;
  id: string;
  name: string;
  detail: string;
  problem: string;
}

const MiB = 1024 ** 2;

export const storageDomainUnregistered: CommandSpec = {
  path: ['storage-domain', 'unregistered'],
  summary: 'list the disks and VMs on an imported data domain that this engine does not know',
  args: [domainArg],
  async run(ctx) {
    const { client, object } = await resolveArg(ctx, storageDomainKind, ctx.args[0]);
    const list = await client.get<UnregisteredList>(`/storage-domains/${object.id}/unregistered`, {
      signal: ctx.session.signal,
    });
    const rows: Row[] = [
      ...list.vms.map((v) => ({
        kind: v.kind,
        id: v.id,
        name: v.name,
        detail: `${v.disk_ids.length} disk(s)`,
        problem: v.problem ? `${v.problem.code}: ${v.problem.message}` : '',
      })),
      ...list.disks.map((d) => ({
        kind: 'disk',
        id: d.id,
        name: d.name ?? '',
        detail: `${d.volumes.length} volume(s)${d.size_bytes === null ? '' : `, ${Math.round(d.size_bytes / MiB)} MiB`}`,
        problem: d.problem ? `${d.problem.code}: ${d.problem.message}` : '',
      })),
    ];
    printList<Row>(ctx, rows, [
      { header: 'KIND', value: (r) => r.kind, minWidth: 4 },
      { header: 'ID', value: (r) => r.id, overflow: 'fixed' },
      { header: 'NAME', value: (r) => r.name, minWidth: 8 },
      { header: 'DETAIL', value: (r) => r.detail, minWidth: 8 },
      { header: 'PROBLEM', value: (r) => r.problem, minWidth: 8 },
    ]);
    return 0;
  },
};

export const storageDomainRegister: CommandSpec = {
  path: ['storage-domain', 'register'],
  summary: 'register a disk, or a VM or template with its disks, found on an imported data domain',
  args: [domainArg],
  options: [
    { flags: '--disk <id>', description: 'the unregistered disk to register' },
    { flags: '--vm <id>', description: 'the unregistered VM to register (with its disks)' },
    { flags: '--template <id>', description: 'the unregistered template to register (with its base disks)' },
    {
      flags: '--cluster <name|id>',
      description: 'with --vm/--template: its cluster (default: the only one of the domain’s data center)',
      complete: { kind: 'resource', resource: 'cluster' },
    },
    { flags: '--name <name>', description: 'with --vm/--template: a name other than the one in its OVF' },
    { flags: '--rename', description: 'with --vm/--template: on a name clash take name-1, name-2…' },
    ...WAIT_OPTIONS,
  ],
  async run(ctx) {
    const disk = ctx.opts.disk as string | undefined;
    const given = [ctx.opts.disk, ctx.opts.vm, ctx.opts.template].filter((v) => v !== undefined);
    if (given.length !== 1) throw usageError('give exactly one of --disk ID, --vm ID or --template ID');
    // VMs and templates share one OVF store and one registration endpoint.
    const vm = (ctx.opts.vm ?? ctx.opts.template) as string | undefined;
    const { client, object } = await resolveArg(ctx, storageDomainKind, ctx.args[0]);
    const base = `/storage-domains/${object.id}/unregistered`;
    if (disk !== undefined) {
      const result = await client.create(`${base}/disks/${encodeURIComponent(disk)}/register`, undefined, {
        signal: ctx.session.signal,
      });
      return finishMutation(ctx, client, result, { done: `disk ${disk} registered` });
    }
    let clusterId: string;
    if (ctx.opts.cluster !== undefined) {
      clusterId = (await clusterKind.api(client).resolve(String(ctx.opts.cluster), {}, ctx.session.signal))
        .id;
    } else {
      const page = await clusterKind.api(client).list({ limit: 500 }, ctx.session.signal);
      const clusters = page.items.filter((c) => c.datacenter_id === object.datacenter_id);
      if (clusters.length !== 1)
        throw usageError(`the domain's data center has ${clusters.length} clusters: name one with --cluster`);
      clusterId = (clusters[0] as { id: string }).id;
    }
    const body: Record<string, unknown> = { cluster_id: clusterId };
    if (ctx.opts.name !== undefined) body.name = String(ctx.opts.name);
    if (ctx.opts.rename) body.on_clash = 'rename';
    const result = await client.create(`${base}/vms/${encodeURIComponent(String(vm))}/register`, body, {
      signal: ctx.session.signal,
    });
    return finishMutation(ctx, client, result, {
      done: `${ctx.opts.vm ? 'VM' : 'template'} ${vm} registered`,
    });
  },
};
