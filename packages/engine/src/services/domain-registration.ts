import type { Operation, RegisterVmBody, UnregisteredList } from '@vireo/api';
import type { Logger } from 'pino';
import type { AgentHub } from '../agents/types';
import { hostForDomains } from '../controllers/disk-storage';
import { agentCodeOf } from '../controllers/vm-controller';
import { findCluster } from '../db/repositories/clusters';
import { datacenterOfCluster } from '../db/repositories/disks';
import {
  existingDiskIds,
  existingTemplateIds,
  existingVmIds,
  insertRegisteredDisk,
  insertRegisteredTemplate,
  insertRegisteredVm,
  knownDiskIds,
  templateBaseVolumes,
  templateNamesLike,
  vmNamesLike,
} from '../db/repositories/registration';
import { findStorageDomain } from '../db/repositories/storage-domains';
import type { Db, Executor } from '../db/schema';
import type { StorageDomainRow } from '../db/tables/storage';
import type { VmNicJson } from '../db/tables/vms';
import { type OvfDocument, parseOvf } from '../domain/ovf';
import { type DiskMetadata, parseDiskMetadata } from '../domain/storage/disk-metadata';
import { diskFilePath, vmFilePath } from '../domain/storage/ovf-store';
import {
  freeName,
  matchDisk,
  matchVm,
  type UnregisteredDisk,
  type UnregisteredVm,
} from '../domain/storage/unregistered';
import { Conflict, InvalidInput, NotFound } from '../errors';
import type { OperationContext, OperationRegistry } from '../operations';
import type { Actor } from './actor';
import type { AuditRecorder, OperationCreator } from './ports';

export interface RegistrationDeps {
  db: Db;
  hub: AgentHub;
  audit: AuditRecorder;
  log: Logger;
  operations: OperationCreator & { get(id: string): Promise<Operation> };
}

/** Registration of what an imported data domain holds (ADR 025). */
export interface RegistrationService {
  /**
   * Disks and VMs on an active data domain that this engine does not know, each with a `problem`
   * when it cannot be registered.
   * @throws NotFound `storage_domain_not_found`, Conflict `storage_domain_state_invalid`,
   *   Unavailable `no_host_for_storage`
   */
  listUnregistered(domainId: string): Promise<UnregisteredList>;
  /** Queues `disk.register`. @throws NotFound `unregistered_not_found`, Conflict `registration_refused` */
  registerDisk(actor: Actor, domainId: string, diskId: string): Promise<Operation>;
  /**
   * Queues `vm.register` (its disks with it).
   * @throws NotFound `unregistered_not_found`, `cluster_not_found`; Conflict `registration_refused`,
   *   `name_in_use`, `storage_domain_state_invalid` (the cluster is in another data center)
   */
  registerVm(actor: Actor, domainId: string, vmId: string, body: RegisterVmBody): Promise<Operation>;
}

/** What one look at the domain found, with the raw OVFs kept for registration. */
interface Survey {
  disks: Map<string, UnregisteredDisk>;
  vms: Map<string, UnregisteredVm>;
}

export function createRegistrationService(deps: RegistrationDeps): RegistrationService {
  const { db } = deps;

  return {
    async listUnregistered(domainId) {
      const { survey } = await surveyDomain(deps, await activeDataDomain(db, domainId));
      return {
        disks: [...survey.disks.values()].map(diskWire),
        vms: [...survey.vms.values()].map((v) => ({
          id: v.id,
          name: v.name,
          kind: v.kind,
          cpus: v.ovf?.cpus ?? null,
          memory_mib: v.ovf?.memory_mib ?? null,
          disk_ids: v.disk_ids,
          problem: v.problem,
        })),
      };
    },

    async registerDisk(actor, domainId, diskId) {
      const domain = await activeDataDomain(db, domainId);
      const { survey } = await surveyDomain(deps, domain, { diskIds: [diskId] });
      registrableDisk(survey, diskId);
      return queue(deps, actor, 'disk.register', domain, { disk_id: diskId.toLowerCase() });
    },

    async registerVm(actor, domainId, vmId, body) {
      const domain = await activeDataDomain(db, domainId);
      await checkCluster(db, domain, body.cluster_id);
      const { survey } = await surveyDomain(deps, domain, { vmIds: [vmId] });
      const vm = registrableVm(survey, vmId);
      await chooseName(db, vm.kind, body.name ?? vm.name, body.on_clash ?? 'fail');
      return queue(deps, actor, 'vm.register', domain, {
        vm_id: vm.id,
        cluster_id: body.cluster_id,
        name: body.name ?? vm.name,
        on_clash: body.on_clash ?? 'fail',
      });
    },
  };
}

/** Registers the `disk.register` and `vm.register` handlers (main.ts, before the runner starts). */
export function registerRegistrationOperations(
  registry: OperationRegistry,
  deps: Omit<RegistrationDeps, 'operations'>,
): void {
  registry.register('disk.register', { resumable: true, run: (ctx) => runRegisterDisk(deps, ctx) });
  registry.register('vm.register', { resumable: true, run: (ctx) => runRegisterVm(deps, ctx) });
}

async function queue(
  deps: RegistrationDeps,
  actor: Actor,
  type: 'disk.register' | 'vm.register',
  domain: StorageDomainRow,
  input: Record<string, unknown>,
): Promise<Operation> {
  const op = await deps.db.transaction().execute(async (tx) => {
    const created = await deps.operations.create(tx, {
      type,
      target: { kind: 'storage_domain', id: domain.id },
      createdBy: actor.userId,
      input,
    });
    await deps.audit.record(tx, {
      kind: `${type}_requested`,
      severity: 'info',
      message: `${type === 'vm.register' ? 'VM' : 'disk'} ${String(input.vm_id ?? input.disk_id)} of storage domain ${domain.name} is being registered by ${actor.username}`,
      object: { kind: 'storage_domain', id: domain.id, name: domain.name },
      userId: actor.userId,
      username: actor.username,
      details: { operation_id: created.id, ...input },
    });
    return created;
  });
  return deps.operations.get(op.id);
}

async function activeDataDomain(db: Db, id: string): Promise<StorageDomainRow> {
  const row = await findStorageDomain(db, id);
  if (!row) throw new NotFound('storage_domain_not_found', `storage domain ${id} does not exist`);
  if (row.kind !== 'data' || row.state !== 'active') {
    throw new Conflict(
      'storage_domain_state_invalid',
      `storage domain ${row.name} must be an active data domain to register what it holds (it is ${row.kind}, ${row.state})`,
      { details: { id, kind: row.kind, state: row.state } },
    );
  }
  return row;
}

async function checkCluster(db: Db, domain: StorageDomainRow, clusterId: string): Promise<void> {
  if (!(await findCluster(db, clusterId)))
    throw new NotFound('cluster_not_found', `cluster ${clusterId} does not exist`);
  const dc = await datacenterOfCluster(db, clusterId);
  if (dc !== domain.datacenter_id) {
    throw new Conflict(
      'storage_domain_state_invalid',
      `storage domain ${domain.name} is not attached to the data center of cluster ${clusterId}`,
      { details: { storage_domain_id: domain.id, cluster_id: clusterId } },
    );
  }
}

/**
 * Reads the domain through one host: the scan of its disk directories (known disks skipped), the
 * disk metadata of each scanned directory and the OVF of each unknown VM, then matches them.
 */
async function surveyDomain(
  deps: Omit<RegistrationDeps, 'operations'>,
  domain: StorageDomainRow,
  only: { diskIds?: string[]; vmIds?: string[] } = {},
): Promise<{ survey: Survey; host: string }> {
  const { db, hub } = deps;
  const host = await hostForDomains(db, hub, [domain]);
  const call = { timeoutMs: 300_000 };

  // VMs first: registering one VM scans only its disks.
  let vmIds: string[];
  if (only.vmIds) vmIds = only.vmIds.map((v) => v.toLowerCase());
  else if (only.diskIds) vmIds = [];
  else {
    const listed = await hub.call(host, 'storage.file_list', { domain_id: domain.id, dir: 'vms' });
    vmIds = listed.entries
      .filter((e) => e.kind === 'file')
      .map((e) => /^vms\/([0-9a-f-]{36})\.ovf$/.exec(e.path)?.[1])
      .filter((v): v is string => v !== undefined);
  }
  const knownVms = new Set([...(await existingVmIds(db, vmIds)), ...(await existingTemplateIds(db, vmIds))]);
  const ovfs = new Map<string, OvfDocument | Error>();
  for (const id of vmIds.filter((v) => !knownVms.has(v)))
    ovfs.set(id, await readOvf(deps, host, domain.id, id));

  let diskIds: string[] | undefined = only.diskIds?.map((d) => d.toLowerCase());
  if (only.vmIds) {
    diskIds = [...ovfs.values()].flatMap((o) => (o instanceof Error ? [] : o.disks.map((d) => d.disk_id)));
  }
  const known = await knownDiskIds(db, domain.id);
  const scan =
    diskIds && diskIds.length === 0
      ? { disks: [] }
      : await hub.call(
          host,
          'storage.scan_disks',
          { domain_id: domain.id, ...(diskIds ? { disk_ids: diskIds } : {}), exclude_disk_ids: known },
          call,
        );
  const elsewhere = await existingDiskIds(
    db,
    scan.disks.map((d) => d.disk_id),
  );
  const facts = { templateBaseVolumes: await templateBaseVolumes(db, domain.id) };
  const disks = new Map<string, UnregisteredDisk>();
  for (const s of scan.disks) {
    const meta = await readDiskMetadata(deps, host, domain.id, s.disk_id);
    const d = matchDisk(s, meta, facts);
    if (elsewhere.has(d.id) && !d.problem)
      d.problem = {
        code: 'id_in_use',
        message: `a disk with id ${d.id} exists in another storage domain here`,
      };
    disks.set(d.id, d);
  }
  const vms = new Map<string, UnregisteredVm>();
  const versionOf = [...ovfs.values()].flatMap((o) =>
    o instanceof Error || !o.template?.version_of ? [] : [o.template.version_of],
  );
  const templates = await existingTemplateIds(db, versionOf);
  for (const [id, ovf] of ovfs) vms.set(id, matchVm(id, ovf, disks, { templates }));
  return { survey: { disks, vms }, host };
}

async function readFile(
  deps: Pick<RegistrationDeps, 'hub'>,
  host: string,
  domainId: string,
  path: string,
): Promise<string | undefined> {
  try {
    return (await deps.hub.call(host, 'storage.file_read', { domain_id: domainId, path })).content;
  } catch (err) {
    if (agentCodeOf(err) === 'file_not_found') return undefined;
    throw err;
  }
}

async function readDiskMetadata(
  deps: Pick<RegistrationDeps, 'hub'>,
  host: string,
  domainId: string,
  diskId: string,
): Promise<DiskMetadata | Error | undefined> {
  let text: string | undefined;
  try {
    text = await readFile(deps, host, domainId, diskFilePath(diskId));
  } catch (err) {
    return err as Error;
  }
  if (text === undefined) return undefined;
  try {
    return parseDiskMetadata(text, diskId);
  } catch (err) {
    return err as Error;
  }
}

async function readOvf(
  deps: Pick<RegistrationDeps, 'hub'>,
  host: string,
  domainId: string,
  vmId: string,
): Promise<OvfDocument | Error> {
  try {
    const text = await readFile(deps, host, domainId, vmFilePath(vmId));
    if (text === undefined) return new Error(`master/${vmFilePath(vmId)} does not exist`);
    return parseOvf(text);
  } catch (err) {
    return err as Error;
  }
}

function registrableDisk(survey: Survey, diskId: string): UnregisteredDisk {
  const d = survey.disks.get(diskId.toLowerCase());
  if (!d)
    throw new NotFound('unregistered_not_found', `disk ${diskId} is not an unregistered disk of this domain`);
  if (d.problem || d.name === null || d.format === null || d.size_bytes === null) {
    throw new Conflict('registration_refused', `disk ${diskId} cannot be registered: ${d.problem?.message}`, {
      details: { disk_id: d.id, problem: d.problem },
    });
  }
  return d;
}

function registrableVm(survey: Survey, vmId: string): UnregisteredVm & { ovf: OvfDocument } {
  const v = survey.vms.get(vmId.toLowerCase());
  if (!v) throw new NotFound('unregistered_not_found', `VM ${vmId} is not an unregistered VM of this domain`);
  if (v.problem || !v.ovf) {
    throw new Conflict('registration_refused', `VM ${vmId} cannot be registered: ${v.problem?.message}`, {
      details: { vm_id: v.id, problem: v.problem },
    });
  }
  return v as UnregisteredVm & { ovf: OvfDocument };
}

/** The name to use, or 409 `name_in_use` (on_clash fail). */
async function chooseName(
  db: Executor,
  kind: 'vm' | 'template',
  wanted: string,
  onClash: 'fail' | 'rename',
): Promise<string> {
  const taken = kind === 'vm' ? await vmNamesLike(db, wanted) : await templateNamesLike(db, wanted);
  const name = freeName(wanted, taken);
  if (name !== wanted && onClash === 'fail') {
    throw new Conflict(
      'name_in_use',
      `a ${kind === 'vm' ? 'VM' : 'template'} named ${wanted} exists already`,
      {
        details: { name: wanted, suggestion: name },
      },
    );
  }
  return name;
}

function diskWire(d: UnregisteredDisk): UnregisteredList['disks'][number] {
  return {
    id: d.id,
    name: d.name,
    description: d.description,
    format: d.format,
    size_bytes: d.size_bytes,
    shareable: d.shareable,
    volumes: d.volumes,
    base: d.base,
    problem: d.problem,
  };
}

async function domainOf(
  deps: Omit<RegistrationDeps, 'operations'>,
  ctx: OperationContext,
): Promise<StorageDomainRow> {
  const id = ctx.op.target?.id;
  if (!id) throw new InvalidInput('invalid_input', 'operation has no storage domain target');
  return activeDataDomain(deps.db, id);
}

/** `disk.register`: look again (storage may have changed since the request), then one transaction. */
async function runRegisterDisk(
  deps: Omit<RegistrationDeps, 'operations'>,
  ctx: OperationContext,
): Promise<Record<string, unknown>> {
  const { disk_id: diskId } = ctx.op.input as { disk_id: string };
  // Resumed after the transaction committed: done already.
  if ((await existingDiskIds(deps.db, [diskId])).has(diskId)) return { disk_id: diskId, already_done: true };
  const domain = await domainOf(deps, ctx);
  await ctx.progress(0.2, 'checking the disk on storage');
  const { survey } = await surveyDomain(deps, domain, { diskIds: [diskId] });
  const disk = registrableDisk(survey, diskId);
  await ctx.progress(0.8, 'registering');
  await deps.db.transaction().execute(async (tx) => {
    await insertRegisteredDisk(tx, domain.id, disk as Parameters<typeof insertRegisteredDisk>[2]);
    await deps.audit.record(tx, diskAudit(domain, disk, ctx));
  });
  return { disk_id: disk.id, volumes: disk.volumes.length };
}

function diskAudit(domain: StorageDomainRow, disk: UnregisteredDisk, ctx: OperationContext) {
  return {
    kind: 'disk.registered',
    severity: 'info' as const,
    message: `disk ${disk.name} (${disk.volumes.length} volume(s)) registered from storage domain ${domain.name}`,
    object: { kind: 'disk', id: disk.id, name: disk.name ?? disk.id },
    userId: ctx.op.created_by,
    details: { operation_id: ctx.op.id, storage_domain_id: domain.id },
  };
}

/**
 * `vm.register`: its disks (volumes with their chain), the VM (down) with its NICs and attachments,
 * all in one transaction, so a failure anywhere leaves no row behind. Nothing on storage changes.
 */
async function runRegisterVm(
  deps: Omit<RegistrationDeps, 'operations'>,
  ctx: OperationContext,
): Promise<Record<string, unknown>> {
  const input = ctx.op.input as {
    vm_id: string;
    cluster_id: string;
    name: string;
    on_clash: 'fail' | 'rename';
  };
  // Resumed after the transaction committed: done already.
  if (
    (await existingVmIds(deps.db, [input.vm_id])).has(input.vm_id) ||
    (await existingTemplateIds(deps.db, [input.vm_id])).has(input.vm_id)
  )
    return { vm_id: input.vm_id, already_done: true };
  const domain = await domainOf(deps, ctx);
  await ctx.progress(0.2, 'checking the VM and its disks on storage');
  const { survey } = await surveyDomain(deps, domain, { vmIds: [input.vm_id] });
  const vm = registrableVm(survey, input.vm_id);
  const isoDomains = await existingIsoDomains(deps.db, vm.ovf);
  await ctx.progress(0.8, 'registering');
  const name = await deps.db.transaction().execute(async (tx) => {
    const name = await chooseName(tx, vm.kind, input.name, input.on_clash);
    for (const id of vm.disk_ids) {
      const disk = registrableDisk(survey, id);
      await insertRegisteredDisk(tx, domain.id, disk as Parameters<typeof insertRegisteredDisk>[2]);
      await deps.audit.record(tx, diskAudit(domain, disk, ctx));
    }
    const ovf = vm.ovf;
    const nics = ovf.nics.map(
      (n): VmNicJson =>
        n.type === 'bridge'
          ? { type: 'bridge', bridge: n.bridge, mac: n.mac, model: n.model }
          : { type: 'user', mac: n.mac, model: n.model },
    );
    // Where each disk sits: a template's disk rows and a VM's attachments say the same.
    const placements = ovf.disks.map((d) => ({
      disk_id: d.disk_id,
      position: d.position,
      interface: d.interface,
      bootable: d.bootable,
    }));
    if (ovf.kind === 'template') {
      await insertRegisteredTemplate(tx, {
        id: vm.id,
        name,
        description: ovf.description,
        cluster_id: input.cluster_id,
        version_of: ovf.template?.version_of ?? null,
        version_number: ovf.template?.version_number ?? 1,
        cpus: ovf.cpus,
        memory_mib: ovf.memory_mib,
        os_type: ovf.os_type,
        boot_order: ovf.boot_order,
        nics,
        console_type: ovf.console,
        disks: placements,
      });
    } else {
      const cdrom = ovf.cdrom;
      await insertRegisteredVm(tx, {
        id: vm.id,
        name,
        cluster_id: input.cluster_id,
        cpus: ovf.cpus,
        memory_mib: ovf.memory_mib,
        os_type: ovf.os_type,
        boot_order: ovf.boot_order,
        cdrom_image: cdrom && 'image' in cdrom ? cdrom.image : null,
        // An ISO domain this engine does not have is dropped: the VM boots without that CD-ROM.
        cdrom_storage_domain_id: cdrom && 'file' in cdrom && isoDomains ? cdrom.storage_domain_id : null,
        cdrom_file: cdrom && 'file' in cdrom && isoDomains ? cdrom.file : null,
        nics,
        console_type: ovf.console,
        attachments: placements,
      });
    }
    await deps.audit.record(tx, {
      kind: `${ovf.kind}.registered`,
      severity: 'info',
      message: `${ovf.kind === 'vm' ? 'VM' : 'template'} ${name} registered from storage domain ${domain.name} with ${vm.disk_ids.length} disk(s)`,
      object: { kind: ovf.kind, id: vm.id, name },
      userId: ctx.op.created_by,
      details: { operation_id: ctx.op.id, storage_domain_id: domain.id, disk_ids: vm.disk_ids },
    });
    return name;
  });
  return { vm_id: vm.id, kind: vm.kind, name, disk_ids: vm.disk_ids };
}

/** Whether the OVF's CD-ROM names an ISO domain this engine has. */
async function existingIsoDomains(db: Db, ovf: OvfDocument): Promise<boolean> {
  const cd = ovf.cdrom;
  if (!cd || !('file' in cd)) return false;
  const row = await findStorageDomain(db, cd.storage_domain_id);
  return row?.kind === 'iso';
}
