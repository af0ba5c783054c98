import type { DiskAttachmentCreate, DiskCreate, DiskTransferRequest, DiskUpdate } from '@vireo/api';
import type { Logger } from 'pino';
import {
  attachmentsOfDisk,
  datacenterOfCluster,
  deleteAttachment,
  diskViews,
  type DiskFilter,
  type DiskView,
  findAttachment,
  findDisk,
  insertAttachment,
  insertDiskWithVolume,
  listDisks,
  listVmDisks,
  listVolumes,
  lockDisk,
  updateDisk,
  type VmDiskView,
} from '../db/repositories/disks';
import type { PageRequest, PageResult } from '../db/repositories/list';
import { isUniqueViolation } from '../db/repositories/pg-errors';
import { findStorageDomain } from '../db/repositories/storage-domains';
import { lockVm } from '../db/repositories/vms';
import type { Db, Executor } from '../db/schema';
import type { DiskRow } from '../db/tables/disks';
import type { StorageDomainRow } from '../db/tables/storage';
import { Conflict, InvalidInput, NotFound, PreconditionFailed } from '../errors';
import type { Actor } from './actor';
import type { AuditRecorder, OperationCreator } from './ports';
import { refuseTemplateDisk } from './templates-guard';
import type { ExpectedVersion } from './versioning';
import { createDiskKey, isDiskEncrypted } from '../secrets/disk-key-store';
import type { MasterKey } from '../secrets/master-key';

const GiB = 1024 ** 3;

/** A VM's disk attachment with its disk, as routes hand it out. */
export interface AttachmentView {
  vm_id: string;
  disk_id: string;
  position: number;
  interface: string;
  bootable: boolean;
  active: boolean;
  disk: DiskView;
}

export interface DiskService {
  list(page: PageRequest, filter?: DiskFilter): Promise<PageResult<DiskView & { sort_key: string }>>;
  /** @throws NotFound `disk_not_found` */
  get(id: string): Promise<DiskView>;
  /** What a new disk gets when a request leaves it out (the portal's checkbox starts from it). */
  defaults(): { encrypted: boolean };
  /** Queues `disk.create`; the disk is `locked` until its volume exists. */
  create(actor: Actor, input: DiskCreate): Promise<{ disk: DiskView; operationId: string }>;
  /** Name/description now; a larger size queues `disk.extend` (online when its VM runs). */
  update(
    actor: Actor,
    id: string,
    expected: ExpectedVersion,
    patch: DiskUpdate,
  ): Promise<{ disk: DiskView; operationId?: string }>;
  /** Queues `disk.move` to another data domain (the disk's VMs must be down). */
  move(actor: Actor, id: string, req: DiskTransferRequest): Promise<{ disk: DiskView; operationId: string }>;
  /** Creates a new disk and queues `disk.copy` into it; returns the new disk. */
  copy(actor: Actor, id: string, req: DiskTransferRequest): Promise<{ disk: DiskView; operationId: string }>;
  /** Queues `disk.delete` (refused while a running VM uses it). */
  delete(actor: Actor, id: string): Promise<{ operationId: string }>;
  listAttachments(vmId: string): Promise<AttachmentView[]>;
  /** Attaches at once to a VM that is down; hot-plugs (`disk.attach`) into a running one. */
  attach(
    actor: Actor,
    vmId: string,
    input: DiskAttachmentCreate,
  ): Promise<{ attachment: AttachmentView; operationId?: string }>;
  /** Detaches at once from a VM that is down; hot-unplugs (`disk.detach`) from a running one. */
  detach(actor: Actor, vmId: string, diskId: string): Promise<{ operationId?: string }>;
}

export function diskNotFound(id: string): NotFound {
  return new NotFound('disk_not_found', `disk ${id} does not exist`, { details: { id } });
}

function domainNotFound(id: string): NotFound {
  return new NotFound('storage_domain_not_found', `storage domain ${id} does not exist`, { details: { id } });
}

/** A VM is "running" for disk purposes in every state but down. */
export function vmIsDown(vm: { state: string; desired_state: string }): boolean {
  return vm.state === 'down' && vm.desired_state === 'down';
}

/** Size in bytes from `size_bytes` or `size_gib` (exactly one). */
export function sizeOf(
  input: { size_bytes?: number; size_gib?: number },
  required: boolean,
): number | undefined {
  if (input.size_bytes !== undefined && input.size_gib !== undefined) {
    throw new InvalidInput('invalid_input', 'give size_bytes or size_gib, not both', {
      details: { field: 'size_bytes' },
    });
  }
  const size = input.size_bytes ?? (input.size_gib === undefined ? undefined : input.size_gib * GiB);
  if (size === undefined && required) {
    throw new InvalidInput('invalid_input', 'a disk needs size_bytes or size_gib', {
      details: { field: 'size_gib' },
    });
  }
  return size;
}

/** The domain a disk may be created in or moved to: an active data domain. */
export function checkDataDomain(domain: StorageDomainRow | undefined, id: string): StorageDomainRow {
  if (!domain) throw domainNotFound(id);
  if (domain.kind !== 'data') {
    throw new InvalidInput(
      'invalid_input',
      `storage domain ${domain.name} is a ${domain.kind} domain, not a data domain`,
      {
        details: { field: 'storage_domain_id', kind: domain.kind },
      },
    );
  }
  if (domain.state !== 'active') {
    throw new Conflict(
      'storage_domain_state_invalid',
      `storage domain ${domain.name} is ${domain.state}, not active`,
      {
        details: { storage_domain_id: domain.id, state: domain.state },
      },
    );
  }
  return domain;
}

function checkUsable(disk: DiskRow): void {
  if (disk.state === 'locked') {
    throw new Conflict('disk_locked', `disk ${disk.name} is locked by another operation`, {
      details: { disk_id: disk.id },
    });
  }
  if (disk.state === 'illegal') {
    throw new Conflict('disk_illegal', `disk ${disk.name} is illegal (a failed operation); delete it`, {
      details: { disk_id: disk.id },
    });
  }
}

export function createDiskService(deps: {
  db: Db;
  log: Logger;
  audit: AuditRecorder;
  operations: OperationCreator;
  /** Wraps the keys of encrypted disks; without it `encrypted: true` is refused. */
  masterKey?: MasterKey;
  /**
   * Setting `disks.encrypt_by_default`: a qcow2 disk created without `encrypted` is encrypted
   * (a raw one stays plain: LUKS lives in the qcow2 header). Needs `masterKey`.
   */
  encryptByDefault?: boolean;
}): DiskService {
  const { db, audit, operations } = deps;

  async function view(ex: Executor, row: DiskRow): Promise<DiskView> {
    const [v] = await diskViews(ex, [row]);
    return v as DiskView;
  }

  async function lockOrThrow(tx: Executor, id: string): Promise<DiskRow> {
    const row = await lockDisk(tx, id);
    if (!row) throw diskNotFound(id);
    return row;
  }

  async function usedByRunningVm(tx: Executor, disk: DiskRow, what: string): Promise<void> {
    const running = (await attachmentsOfDisk(tx, disk.id)).filter((a) => !vmIsDown(a));
    if (running.length > 0) {
      throw new Conflict('disk_in_use', `disk ${disk.name} is used by a running VM; ${what}`, {
        details: {
          disk_id: disk.id,
          vms: running.map((a) => ({ id: a.vm_id, name: a.vm_name, state: a.state })),
        },
      });
    }
  }

  async function queue(
    tx: Executor,
    actor: Actor,
    type: string,
    disk: { id: string },
    input: Record<string, unknown> = {},
  ): Promise<string> {
    const op = await operations.create(tx, {
      type,
      target: { kind: 'disk', id: disk.id },
      createdBy: actor.userId,
      input,
    });
    return op.id;
  }

  async function attachmentView(ex: Executor, vmId: string, diskId: string): Promise<AttachmentView> {
    const att = await findAttachment(ex, vmId, diskId);
    const disk = await findDisk(ex, diskId);
    if (!att || !disk) throw diskNotFound(diskId);
    return { ...att, disk: await view(ex, disk) };
  }

  return {
    list: (page, filter) => listDisks(db, page, filter),

    async get(id) {
      const row = await findDisk(db, id);
      if (!row) throw diskNotFound(id);
      return view(db, row);
    },

    defaults: () => ({ encrypted: deps.encryptByDefault === true && deps.masterKey !== undefined }),

    async create(actor, input) {
      const size = sizeOf(input, true) as number;
      const format = input.format ?? 'qcow2';
      const shareable = input.shareable ?? false;
      if (shareable && format !== 'raw') {
        throw new InvalidInput('invalid_input', 'shareable disks must be raw', {
          details: { field: 'shareable' },
        });
      }
      if (input.preallocation === 'metadata' && format !== 'qcow2') {
        throw new InvalidInput('invalid_input', 'metadata preallocation is for qcow2 only', {
          details: { field: 'preallocation' },
        });
      }
      const encrypted =
        input.encrypted ?? (deps.encryptByDefault === true && format === 'qcow2' && !!deps.masterKey);
      if (encrypted && (format !== 'qcow2' || !deps.masterKey)) {
        throw new InvalidInput(
          'invalid_input',
          format !== 'qcow2' ? 'encrypted disks must be qcow2' : 'this engine has no disk master key',
          { details: { field: 'encrypted' } },
        );
      }
      return db.transaction().execute(async (tx) => {
        const domain = checkDataDomain(
          await findStorageDomain(tx, input.storage_domain_id),
          input.storage_domain_id,
        );
        const { disk } = await insertDiskWithVolume(
          tx,
          {
            name: input.name,
            description: input.description ?? '',
            storage_domain_id: domain.id,
            size_bytes: size,
            format,
            preallocation: input.preallocation ?? 'off',
            shareable,
            state: 'locked',
          },
          false,
        );
        // The key is stored wrapped in the same transaction; disk.create hands it to the agent.
        if (encrypted && deps.masterKey) await createDiskKey(tx, deps.masterKey, disk.id);
        const operationId = await queue(tx, actor, 'disk.create', disk);
        await audit.record(tx, {
          kind: 'disk.created',
          severity: 'info',
          message: `disk ${disk.name} (${size} bytes, ${format}) was created in storage domain ${domain.name} by ${actor.username}`,
          object: { kind: 'disk', id: disk.id, name: disk.name },
          userId: actor.userId,
          username: actor.username,
          details: {
            storage_domain_id: domain.id,
            size_bytes: size,
            format,
            encrypted,
            operation_id: operationId,
          },
        });
        // Re-read: the key (if any) marked the row encrypted after it was inserted.
        return { disk: await view(tx, (await findDisk(tx, disk.id)) as DiskRow), operationId };
      });
    },

    async update(actor, id, expected, patch) {
      const size = sizeOf(patch, false);
      return db.transaction().execute(async (tx) => {
        const before = await lockOrThrow(tx, id);
        if (expected !== 'any' && expected !== before.version) {
          throw new PreconditionFailed('etag_mismatch', `disk ${id} changed since it was read`, {
            details: { id, current_etag: `"${before.version}"` },
          });
        }
        const grow = size !== undefined && size !== before.size_bytes;
        if (grow) {
          checkUsable(before);
          if ((size as number) < before.size_bytes) {
            throw new Conflict('disk_shrink_not_allowed', `disk ${before.name} can only grow`, {
              details: { disk_id: id, size_bytes: before.size_bytes, requested: size },
            });
          }
        }
        const fields = {
          ...(patch.name === undefined ? {} : { name: patch.name }),
          ...(patch.description === undefined ? {} : { description: patch.description }),
          ...(grow ? { state: 'locked' as const } : {}),
        };
        const row = await updateDisk(tx, id, before.version, fields);
        if (!row) throw diskNotFound(id);
        const operationId = grow
          ? await queue(tx, actor, 'disk.extend', row, { size_bytes: size })
          : undefined;
        await audit.record(tx, {
          kind: 'disk.updated',
          severity: 'info',
          message: grow
            ? `disk ${row.name} is being extended to ${size} bytes by ${actor.username}`
            : `disk ${row.name} was updated by ${actor.username}`,
          object: { kind: 'disk', id: row.id, name: row.name },
          userId: actor.userId,
          username: actor.username,
          details: { changes: patch, ...(operationId ? { operation_id: operationId } : {}) },
        });
        return { disk: await view(tx, row), ...(operationId ? { operationId } : {}) };
      });
    },

    async move(actor, id, req) {
      return db.transaction().execute(async (tx) => {
        const disk = await lockOrThrow(tx, id);
        // An encrypted disk moves with its key: the copy is re-encrypted under the same key.
        if (req.encrypted !== undefined) {
          throw new InvalidInput('invalid_input', 'a move keeps the disk as it is; encrypted is for copies', {
            details: { field: 'encrypted' },
          });
        }
        checkUsable(disk);
        await refuseTemplateDisk(tx, disk, 'thin clones name its volume by a path inside its domain');
        if (disk.storage_domain_id === req.storage_domain_id) {
          throw new InvalidInput('invalid_input', `disk ${disk.name} is already in that storage domain`, {
            details: { field: 'storage_domain_id' },
          });
        }
        const target = checkDataDomain(
          await findStorageDomain(tx, req.storage_domain_id),
          req.storage_domain_id,
        );
        await usedByRunningVm(tx, disk, 'stop it before moving the disk');
        if ((await listVolumes(tx, id)).length > 1) {
          throw new Conflict(
            'disk_has_snapshots',
            `disk ${disk.name} has snapshots; delete them before moving it`,
            {
              details: { disk_id: id },
            },
          );
        }
        const row = (await updateDisk(tx, id, undefined, { state: 'locked' })) as DiskRow;
        const operationId = await queue(tx, actor, 'disk.move', row, {
          from_storage_domain_id: disk.storage_domain_id,
          storage_domain_id: target.id,
        });
        await audit.record(tx, {
          kind: 'disk.moving',
          severity: 'info',
          message: `disk ${disk.name} is being moved to storage domain ${target.name} by ${actor.username}`,
          object: { kind: 'disk', id, name: disk.name },
          userId: actor.userId,
          username: actor.username,
          details: { from: disk.storage_domain_id, to: target.id, operation_id: operationId },
        });
        return { disk: await view(tx, row), operationId };
      });
    },

    async copy(actor, id, req) {
      return db.transaction().execute(async (tx) => {
        const source = await lockOrThrow(tx, id);
        checkUsable(source);
        const target = checkDataDomain(
          await findStorageDomain(tx, req.storage_domain_id),
          req.storage_domain_id,
        );
        // A running guest keeps writing: the copy would be torn.
        await usedByRunningVm(tx, source, 'stop it before copying the disk');
        const name = req.name ?? `${source.name.slice(0, 59)}-copy`;
        const { disk } = await insertDiskWithVolume(
          tx,
          {
            name,
            description: source.description,
            storage_domain_id: target.id,
            size_bytes: source.size_bytes,
            format: source.format,
            preallocation: source.preallocation,
            shareable: source.shareable,
            state: 'locked',
          },
          false,
        );
        // A copy of an encrypted disk is encrypted under a key of its own, never the source's; a
        // plain qcow2 disk may be copied into an encrypted one (`encrypted: true`).
        const sourceEncrypted = await isDiskEncrypted(tx, id);
        const encrypted = req.encrypted ?? sourceEncrypted;
        if (sourceEncrypted && !encrypted) {
          throw new InvalidInput(
            'invalid_input',
            'a copy of an encrypted disk is encrypted too (export it to get a plain image)',
            { details: { field: 'encrypted' } },
          );
        }
        if (encrypted && source.format !== 'qcow2') {
          throw new InvalidInput('invalid_input', 'encrypted disks must be qcow2', {
            details: { field: 'encrypted' },
          });
        }
        if (encrypted) {
          if (!deps.masterKey) {
            throw new Conflict('disk_in_use', 'this engine has no disk master key to encrypt the copy', {
              details: { disk_id: id },
            });
          }
          await createDiskKey(tx, deps.masterKey, disk.id);
        }
        await updateDisk(tx, id, undefined, { state: 'locked' });
        const operationId = await queue(tx, actor, 'disk.copy', disk, { source_disk_id: id });
        await audit.record(tx, {
          kind: 'disk.copying',
          severity: 'info',
          message: `disk ${source.name} is being copied to ${name} in storage domain ${target.name} by ${actor.username}`,
          object: { kind: 'disk', id: disk.id, name },
          userId: actor.userId,
          username: actor.username,
          details: { source_disk_id: id, storage_domain_id: target.id, operation_id: operationId },
        });
        return { disk: await view(tx, (await findDisk(tx, disk.id)) as DiskRow), operationId };
      });
    },

    async delete(actor, id) {
      return db.transaction().execute(async (tx) => {
        const disk = await lockOrThrow(tx, id);
        if (disk.state === 'locked') checkUsable(disk);
        await refuseTemplateDisk(tx, disk, 'delete the template instead');
        await usedByRunningVm(tx, disk, 'stop it or detach the disk first');
        await updateDisk(tx, id, undefined, { state: 'locked' });
        const operationId = await queue(tx, actor, 'disk.delete', disk);
        await audit.record(tx, {
          kind: 'disk.deleting',
          severity: 'info',
          message: `disk ${disk.name} is being deleted by ${actor.username}`,
          object: { kind: 'disk', id, name: disk.name },
          userId: actor.userId,
          username: actor.username,
          details: { operation_id: operationId },
        });
        return { operationId };
      });
    },

    async listAttachments(vmId) {
      const vm = await db.selectFrom('vms').select('id').where('id', '=', vmId).executeTakeFirst();
      if (!vm) throw new NotFound('vm_not_found', `VM ${vmId} does not exist`, { details: { id: vmId } });
      const disks = (await listVmDisks(db, [vmId])).get(vmId) ?? [];
      const rows = await diskViews(
        db,
        await Promise.all(disks.map(async (d) => (await findDisk(db, d.id)) as DiskRow)),
      );
      return disks.map((d: VmDiskView, i) => ({
        vm_id: vmId,
        disk_id: d.id,
        position: d.position,
        interface: d.interface,
        bootable: d.bootable,
        active: d.active,
        disk: rows[i] as DiskView,
      }));
    },

    async attach(actor, vmId, input) {
      try {
        return await db.transaction().execute(async (tx) => {
          const vm = await lockVm(tx, vmId);
          if (!vm) throw new NotFound('vm_not_found', `VM ${vmId} does not exist`, { details: { id: vmId } });
          const disk = await lockOrThrow(tx, input.disk_id);
          checkUsable(disk);
          await refuseTemplateDisk(tx, disk, 'clone the template instead');
          if (await findAttachment(tx, vmId, disk.id)) {
            throw new Conflict('disk_attached', `disk ${disk.name} is already attached to VM ${vm.name}`, {
              details: { disk_id: disk.id, vm_id: vmId },
            });
          }
          const others = await attachmentsOfDisk(tx, disk.id);
          if (others.length > 0 && !disk.shareable) {
            throw new Conflict('disk_attached', `disk ${disk.name} is attached to VM ${others[0]?.vm_name}`, {
              details: { disk_id: disk.id, vm_ids: others.map((o) => o.vm_id) },
            });
          }
          const domain = await findStorageDomain(tx, disk.storage_domain_id);
          const dc = await datacenterOfCluster(tx, vm.cluster_id);
          if (!domain || domain.datacenter_id !== dc) {
            throw new InvalidInput('invalid_input', `disk ${disk.name} is not in the VM's data center`, {
              details: { field: 'disk_id', storage_domain_id: disk.storage_domain_id },
            });
          }
          const down = vmIsDown(vm);
          const active = input.active ?? true;
          if (!down && !(vm.state === 'up' || vm.state === 'paused')) {
            throw new Conflict(
              'vm_invalid_state',
              `VM ${vm.name} is ${vm.state}; attach disks when it is down or up`,
              {
                details: { vm_id: vmId, state: vm.state },
              },
            );
          }
          await insertAttachment(tx, {
            vm_id: vmId,
            disk_id: disk.id,
            interface: input.interface ?? 'virtio',
            bootable: input.bootable ?? false,
            active,
          });
          const operationId =
            !down && active ? await queue(tx, actor, 'disk.attach', disk, { vm_id: vmId }) : undefined;
          await audit.record(tx, {
            kind: 'disk.attached',
            severity: 'info',
            message: `disk ${disk.name} was attached to VM ${vm.name} by ${actor.username}${operationId ? ' (hot-plug)' : ''}`,
            object: { kind: 'disk', id: disk.id, name: disk.name },
            userId: actor.userId,
            username: actor.username,
            details: { vm_id: vmId, ...(operationId ? { operation_id: operationId } : {}) },
          });
          return {
            attachment: await attachmentView(tx, vmId, disk.id),
            ...(operationId ? { operationId } : {}),
          };
        });
      } catch (err) {
        if (isUniqueViolation(err)) {
          throw new Conflict(
            'disk_attached',
            'the VM already has a bootable disk or a disk at that position',
            {
              details: { vm_id: vmId },
              cause: err,
            },
          );
        }
        throw err;
      }
    },

    async detach(actor, vmId, diskId) {
      return db.transaction().execute(async (tx) => {
        const vm = await lockVm(tx, vmId);
        if (!vm) throw new NotFound('vm_not_found', `VM ${vmId} does not exist`, { details: { id: vmId } });
        const att = await findAttachment(tx, vmId, diskId);
        const disk = await findDisk(tx, diskId);
        if (!att || !disk) {
          throw new NotFound('disk_not_attached', `disk ${diskId} is not attached to VM ${vm.name}`, {
            details: { vm_id: vmId, disk_id: diskId },
          });
        }
        let operationId: string | undefined;
        if (vmIsDown(vm) || !att.active) await deleteAttachment(tx, vmId, diskId);
        else if (vm.state === 'up' || vm.state === 'paused') {
          operationId = await queue(tx, actor, 'disk.detach', disk, { vm_id: vmId });
        } else {
          throw new Conflict(
            'vm_invalid_state',
            `VM ${vm.name} is ${vm.state}; detach disks when it is down or up`,
            {
              details: { vm_id: vmId, state: vm.state },
            },
          );
        }
        await audit.record(tx, {
          kind: 'disk.detached',
          severity: 'info',
          message: `disk ${disk.name} was detached from VM ${vm.name} by ${actor.username}${operationId ? ' (hot-unplug)' : ''}`,
          object: { kind: 'disk', id: disk.id, name: disk.name },
          userId: actor.userId,
          username: actor.username,
          details: { vm_id: vmId, ...(operationId ? { operation_id: operationId } : {}) },
        });
        return operationId ? { operationId } : {};
      });
    },
  };
}
