import type { VmAction, VmCreate, VmUpdate } from '@vireo/api';
import type { Logger } from 'pino';
import { findCluster } from '../db/repositories/clusters';
import type { PageRequest, PageResult } from '../db/repositories/list';
import { isForeignKeyViolation, isUniqueViolation } from '../db/repositories/pg-errors';
import {
  domainsByIds,
  firstActiveDataDomain,
  insertAttachment,
  insertDiskWithVolume,
  listVmDisks,
  type VmDiskView,
} from '../db/repositories/disks';
import { findStorageDomain } from '../db/repositories/storage-domains';
import {
  insertVm,
  listVms,
  lockVm,
  setVmDesired,
  updateVm,
  VM_CLUSTER_FK,
  VM_NAME_CONSTRAINT,
  type VmFields,
  type VmFilter,
  findVm,
} from '../db/repositories/vms';
import { placementHostsLocked } from '../db/repositories/vms-placement';
import type { Db, Executor } from '../db/schema';
import type { StorageDomainRow } from '../db/tables/storage';
import type { VmRow } from '../db/tables/vms';
import { cdromColumns, checkCdromDomain } from '../domain/storage/cdrom';
import { ownedDiskName } from '../domain/storage/disk-names';
import { checkAction, checkDown } from '../domain/vm/actions';
import { randomMac } from '../domain/vm/mac';
import { Conflict, InvalidInput, NotFound, PreconditionFailed } from '../errors';
import { createDiskKey } from '../secrets/disk-key-store';
import type { MasterKey } from '../secrets/master-key';
import { storageNeeds } from '../scheduler/filters/storage';
import { place } from '../scheduler/place';
import { checkDataDomain } from './disks';
import type { Actor } from './actor';
import type { AuditRecorder, OperationCreator } from './ports';
import type { ExpectedVersion } from './versioning';

/** A VM with its disks, as services hand it to routes. */
export interface VmWithDisks extends VmRow {
  disks: VmDiskView[];
}

export interface VmService {
  list(page: PageRequest, filter?: VmFilter): Promise<PageResult<VmWithDisks & { sort_key: string }>>;
  /** @throws NotFound `vm_not_found` */
  get(id: string): Promise<VmWithDisks>;
  /** @throws NotFound `cluster_not_found`, Conflict `vm_name_taken`, InvalidInput */
  create(actor: Actor, input: VmCreate): Promise<VmWithDisks>;
  /** Hardware changes apply at the next start. @throws NotFound, PreconditionFailed, Conflict */
  update(actor: Actor, id: string, expected: ExpectedVersion, patch: VmUpdate): Promise<VmWithDisks>;
  /**
   * Writes the desired state of a power action and queues its `vm.<action>` operation. `start`
   * places the VM first. @throws Conflict `vm_invalid_state` | `no_host_available`
   */
  act(actor: Actor, id: string, action: VmAction): Promise<{ operationId: string }>;
  /** Queues `vm.delete` for a VM that is down. @throws Conflict `vm_not_down` */
  delete(actor: Actor, id: string, removeDisks: boolean): Promise<{ operationId: string }>;
}

export function vmNotFound(id: string): NotFound {
  return new NotFound('vm_not_found', `VM ${id} does not exist`, { details: { id } });
}

function clusterNotFound(id: string): NotFound {
  return new NotFound('cluster_not_found', `cluster ${id} does not exist`, { details: { id } });
}

function nameTaken(name: string, cause: unknown): Conflict {
  return new Conflict('vm_name_taken', `a VM named "${name}" already exists`, { details: { name }, cause });
}

const DEFAULTS = {
  cpus: 1,
  memory_mib: 512,
  os_type: 'other_linux',
  boot_order: ['disk'],
  console: 'vnc',
} as const;

/** Rules the schema cannot express. */
function checkCreate(input: VmCreate): void {
  const bootable = (input.disks ?? []).filter((d) => d.bootable).length;
  if (bootable > 1) {
    throw new InvalidInput('invalid_input', 'at most one disk can be bootable', {
      details: { field: 'disks', bootable },
    });
  }
  const macs = (input.nics ?? []).flatMap((n) => (n.mac ? [n.mac.toLowerCase()] : []));
  if (new Set(macs).size !== macs.length) {
    throw new InvalidInput('invalid_input', 'two NICs have the same MAC address', {
      details: { field: 'nics' },
    });
  }
}

/**
 * Refuses a VM that could never boot: no boot device in its boot order is present (a disk, a CD-ROM
 * with an image, a NIC for network boot). Caught here rather than at start, where it would only
 * surface as a failed operation on some host.
 */
export function checkBootable(vm: {
  boot_order: readonly string[];
  disks: number;
  cdrom_image: string | null;
  nics: number;
}): void {
  const present: Record<string, boolean> = {
    disk: vm.disks > 0,
    cdrom: vm.cdrom_image !== null,
    network: vm.nics > 0,
  };
  if (vm.boot_order.some((device) => present[device])) return;
  throw new InvalidInput(
    'vm_not_bootable',
    'the VM has nothing to boot: add a disk, a CD-ROM image or a NIC, and name it in boot_order',
    {
      details: {
        boot_order: vm.boot_order,
        disks: vm.disks,
        cdrom_image: vm.cdrom_image,
        nics: vm.nics,
      },
    },
  );
}

export function createVmService(deps: {
  db: Db;
  log: Logger;
  audit: AuditRecorder;
  operations: OperationCreator;
  /** Wraps the keys of new encrypted disks; without it `encrypted: true` is refused. */
  masterKey?: MasterKey;
  /** Setting `disks.encrypt_by_default`: a new qcow2 disk without `encrypted` is encrypted. */
  encryptByDefault?: boolean;
}): VmService {
  const { db, audit, operations } = deps;

  async function withDisks(ex: Executor, row: VmRow): Promise<VmWithDisks> {
    const disks = await listVmDisks(ex, [row.id]);
    return { ...row, disks: disks.get(row.id) ?? [] };
  }

  async function lockOrThrow(tx: Executor, id: string): Promise<VmRow> {
    const row = await lockVm(tx, id);
    if (!row) throw vmNotFound(id);
    return row;
  }

  /** Picks a host for a VM being started: one that sees every active disk's storage domain. */
  async function placeLocked(tx: Executor, vm: VmRow): Promise<string> {
    const disks = ((await listVmDisks(tx, [vm.id])).get(vm.id) ?? []).filter((d) => d.active);
    // A disk an operation holds (move, extend…) or a failed one cannot be given to QEMU.
    const blocked = disks.find((d) => d.state !== 'ok');
    if (blocked) {
      throw new Conflict(
        blocked.state === 'locked' ? 'disk_locked' : 'disk_illegal',
        `disk ${blocked.name} of VM ${vm.name} is ${blocked.state}`,
        { details: { disk_id: blocked.id, state: blocked.state } },
      );
    }
    const domains = await domainsByIds(
      tx,
      disks.map((d) => d.storage_domain_id),
    );
    for (const d of domains.values()) {
      if (d.state !== 'active') {
        throw new Conflict(
          'storage_domain_state_invalid',
          `storage domain ${d.name} of VM ${vm.name} is ${d.state}`,
          {
            details: { storage_domain_id: d.id, state: d.state },
          },
        );
      }
    }
    const found = await placementHostsLocked(tx, vm.cluster_id);
    if (!found) throw clusterNotFound(vm.cluster_id);
    const result = place(found.hosts, {
      memoryMib: vm.memory_mib,
      overcommitPercent: found.overcommitPercent,
      storage: storageNeeds([...domains.values()]),
    });
    if (!result.ok) {
      throw new Conflict(
        'no_host_available',
        `no host of the cluster can run VM ${vm.name} (${vm.memory_mib} MiB) now`,
        { details: { hosts: result.verdicts } },
      );
    }
    return result.hostId;
  }

  /**
   * The new VM's blank disks: each in its named data domain or the data center's first active one
   * (none → `no_data_domain`, as oVirt). Volumes are created on the host the VM first starts on.
   */
  async function createVmDisks(
    tx: Executor,
    vm: VmRow,
    datacenterId: string,
    disks: NonNullable<VmCreate['disks']>,
  ): Promise<void> {
    let fallback: StorageDomainRow | undefined;
    for (const [i, d] of disks.entries()) {
      let domain: StorageDomainRow;
      if (d.storage_domain_id) {
        domain = checkDataDomain(await findStorageDomain(tx, d.storage_domain_id), d.storage_domain_id);
        if (domain.datacenter_id !== datacenterId) {
          throw new InvalidInput(
            'invalid_input',
            `storage domain ${domain.name} is not in the VM's data center`,
            {
              details: { field: `disks/${i}/storage_domain_id` },
            },
          );
        }
      } else {
        fallback ??= await firstActiveDataDomain(tx, datacenterId);
        if (!fallback) {
          throw new Conflict(
            'no_data_domain',
            'the data center has no active data domain to create disks in',
            {
              details: { datacenter_id: datacenterId },
            },
          );
        }
        domain = fallback;
      }
      const format = d.format ?? 'qcow2';
      const encrypted =
        d.encrypted ?? (deps.encryptByDefault === true && format === 'qcow2' && !!deps.masterKey);
      if (encrypted && (format !== 'qcow2' || !deps.masterKey)) {
        throw new InvalidInput(
          'invalid_input',
          format !== 'qcow2' ? 'encrypted disks must be qcow2' : 'this engine has no disk master key',
          { details: { field: `disks.${i}.encrypted` } },
        );
      }
      const { disk } = await insertDiskWithVolume(
        tx,
        {
          name: ownedDiskName(vm.name, i),
          storage_domain_id: domain.id,
          size_bytes: d.size_gib * 1024 ** 3,
          format,
        },
        false,
      );
      // The key is stored wrapped in the same transaction; the first start creates the volume with it.
      if (encrypted && deps.masterKey) await createDiskKey(tx, deps.masterKey, disk.id);
      await insertAttachment(tx, {
        vm_id: vm.id,
        disk_id: disk.id,
        position: i,
        interface: d.interface ?? 'virtio',
        bootable: d.bootable ?? false,
        active: true,
      });
    }
  }

  return {
    async list(page, filter) {
      const res = await listVms(db, page, filter);
      const disks = await listVmDisks(
        db,
        res.rows.map((r) => r.id),
      );
      return { ...res, rows: res.rows.map((r) => ({ ...r, disks: disks.get(r.id) ?? [] })) };
    },

    async get(id) {
      const row = await findVm(db, id);
      if (!row) throw vmNotFound(id);
      return withDisks(db, row);
    },

    async create(actor, input) {
      checkCreate(input);
      const fields: VmFields = {
        name: input.name,
        cpus: input.cpus ?? DEFAULTS.cpus,
        memory_mib: input.memory_mib ?? DEFAULTS.memory_mib,
        os_type: input.os_type ?? DEFAULTS.os_type,
        boot_order: [...(input.boot_order ?? DEFAULTS.boot_order)],
        ...cdromColumns(input.cdrom ?? null),
        console_type: input.console ?? DEFAULTS.console,
      };
      checkBootable({
        boot_order: fields.boot_order,
        disks: input.disks?.length ?? 0,
        cdrom_image: fields.cdrom_image ?? fields.cdrom_file ?? null,
        nics: input.nics?.length ?? 0,
      });
      const nics = (input.nics ?? []).map((n) => ({
        ...('bridge' in n ? { type: 'bridge' as const, bridge: n.bridge } : { type: 'user' as const }),
        mac: (n.mac ?? randomMac()).toLowerCase(),
        ...(n.model ? { model: n.model } : {}),
      }));
      try {
        return await db.transaction().execute(async (tx) => {
          await checkCdromDomain(tx, input.cdrom ?? null);
          const cluster = await findCluster(tx, input.cluster_id);
          if (!cluster) throw clusterNotFound(input.cluster_id);
          const row = await insertVm(tx, { ...fields, cluster_id: input.cluster_id, nics });
          await createVmDisks(tx, row, cluster.datacenter_id, input.disks ?? []);
          await audit.record(tx, {
            kind: 'vm.created',
            severity: 'info',
            message: `VM ${row.name} was created in cluster ${cluster.name} by ${actor.username}`,
            object: { kind: 'vm', id: row.id, name: row.name },
            userId: actor.userId,
            username: actor.username,
            details: { fields: { ...fields, cluster_id: input.cluster_id, disks: input.disks ?? [] } },
          });
          return withDisks(tx, row);
        });
      } catch (err) {
        if (isUniqueViolation(err, VM_NAME_CONSTRAINT)) throw nameTaken(fields.name, err);
        if (isForeignKeyViolation(err, VM_CLUSTER_FK)) throw clusterNotFound(input.cluster_id);
        throw err;
      }
    },

    async update(actor, id, expected, patch) {
      const { cdrom, console: consoleType, ...rest } = patch;
      // Like all hardware, a console change reaches QEMU at the next start (spec.ts reads the row).
      const fields: Partial<VmFields> = {
        ...rest,
        ...(cdrom === undefined ? {} : cdromColumns(cdrom)),
        ...(consoleType === undefined ? {} : { console_type: consoleType }),
      };
      try {
        return await db.transaction().execute(async (tx) => {
          const before = await lockOrThrow(tx, id);
          if (cdrom !== undefined) await checkCdromDomain(tx, cdrom);
          if (expected !== 'any' && expected !== before.version) {
            throw new PreconditionFailed('etag_mismatch', `VM ${id} changed since it was read`, {
              details: { id, current_etag: `"${before.version}"` },
            });
          }
          const disks = (await listVmDisks(tx, [id])).get(id) ?? [];
          checkBootable({
            boot_order: fields.boot_order ?? before.boot_order,
            disks: disks.length,
            cdrom_image:
              fields.cdrom_image === undefined
                ? (before.cdrom_image ?? before.cdrom_file)
                : (fields.cdrom_image ?? fields.cdrom_file ?? null),
            nics: before.nics.length,
          });
          const row = await updateVm(tx, id, before.version, fields);
          if (!row) throw vmNotFound(id);
          await audit.record(tx, {
            kind: 'vm.updated',
            severity: 'info',
            message: `VM ${row.name} was updated by ${actor.username}`,
            object: { kind: 'vm', id: row.id, name: row.name },
            userId: actor.userId,
            username: actor.username,
            details: { changes: patch, ...(patch.name ? { previous_name: before.name } : {}) },
          });
          return withDisks(tx, row);
        });
      } catch (err) {
        if (isUniqueViolation(err, VM_NAME_CONSTRAINT)) throw nameTaken(patch.name ?? '', err);
        throw err;
      }
    },

    async act(actor, id, action) {
      return db.transaction().execute(async (tx) => {
        const vm = await lockOrThrow(tx, id);
        const rule = checkAction(vm, action);
        const hostId = action === 'start' ? await placeLocked(tx, vm) : vm.host_id;
        const row = await setVmDesired(tx, id, {
          desired_state: rule.desired,
          ...(action === 'start' ? { host_id: hostId } : {}),
        });
        const op = await operations.create(tx, {
          type: `vm.${action}`,
          target: { kind: 'vm', id },
          createdBy: actor.userId,
          input: { host_id: hostId },
        });
        await audit.record(tx, {
          kind: `vm.${action}_requested`,
          severity: 'info',
          message: `${actor.username} asked VM ${row.name} to ${action}`,
          object: { kind: 'vm', id: row.id, name: row.name },
          userId: actor.userId,
          username: actor.username,
          details: { operation_id: op.id, host_id: hostId, desired_state: rule.desired },
        });
        return { operationId: op.id };
      });
    },

    async delete(actor, id, removeDisks) {
      return db.transaction().execute(async (tx) => {
        const vm = await lockOrThrow(tx, id);
        checkDown(vm);
        const op = await operations.create(tx, {
          type: 'vm.delete',
          target: { kind: 'vm', id },
          createdBy: actor.userId,
          input: { remove_disks: removeDisks, host_id: vm.host_id },
        });
        await audit.record(tx, {
          kind: 'vm.delete_requested',
          severity: 'info',
          message: `${actor.username} asked to delete VM ${vm.name}`,
          object: { kind: 'vm', id: vm.id, name: vm.name },
          userId: actor.userId,
          username: actor.username,
          details: { operation_id: op.id, remove_disks: removeDisks },
        });
        return { operationId: op.id };
      });
    },
  };
}
