import { type Static, Type } from '@sinclair/typebox';
import { Name, Uuid } from './common';
import { Operation } from './operations';

/** `POST /vms/{id}/export` and `POST /templates/{id}/export`. */
export const ExportRequest = Type.Object(
  {
    /** An active storage domain of kind `export`. */
    storage_domain_id: Uuid,
    /**
     * `ovf` (default): the disks flattened to `images/<disk_id>/<volume_id>` and the OVF at
     * `master/vms/<id>/<id>.ovf`, as oVirt lays out export domains. `ova`: one tar
     * `ova/<name>.ova` with the OVF first and one qcow2 per disk.
     */
    format: Type.Optional(Type.Union([Type.Literal('ovf'), Type.Literal('ova')])),
    /** Replace an export of the same object (OVF) or the same name (OVA). Default false: `409 export_exists`. */
    overwrite: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type ExportRequest = Static<typeof ExportRequest>;

export const ExportedDisk = Type.Object(
  {
    disk_id: Uuid,
    volume_id: Uuid,
    name: Type.String(),
    size_bytes: Type.Integer(),
    format: Type.String(),
    interface: Type.String(),
    bootable: Type.Boolean(),
  },
  { additionalProperties: false },
);

/** One VM or template found on an export domain (read from the storage, not the database). */
export const ExportEntry = Type.Object(
  {
    /** The exported object's id (what `/exports/{entity_id}/import` takes). */
    id: Uuid,
    kind: Type.Union([Type.Literal('vm'), Type.Literal('template')]),
    name: Type.String(),
    description: Type.String(),
    format: Type.Union([Type.Literal('ovf'), Type.Literal('ova')]),
    /** The OVA's file name without `.ova` (format `ova` only). */
    ova_name: Type.Union([Type.String(), Type.Null()]),
    /**
     * `vireo`: written by a Vireo engine. `foreign`: an OVA another tool wrote (VirtualBox, VMware,
     * oVirt); its disks are converted to qcow2 on import and `warnings` says what is skipped.
     */
    origin: Type.Union([Type.Literal('vireo'), Type.Literal('foreign')]),
    /** What an import skips or changes (hardware Vireo does not model, renamed VM, NIC models). */
    warnings: Type.Array(Type.String()),
    cpus: Type.Integer(),
    memory_mib: Type.Integer(),
    os_type: Type.String(),
    disks: Type.Array(ExportedDisk),
    nic_count: Type.Integer(),
    created_at: Type.Union([Type.String(), Type.Null()]),
    /** When the OVF or OVA file was last written. */
    exported_at: Type.Union([Type.String(), Type.Null()]),
  },
  { additionalProperties: false },
);
export type ExportEntry = Static<typeof ExportEntry>;

export const ExportList = Type.Object(
  {
    items: Type.Array(ExportEntry),
    /** Files found that are not valid exports (a broken or foreign OVF/OVA), with the reason. */
    invalid: Type.Array(
      Type.Object({ path: Type.String(), reason: Type.String() }, { additionalProperties: false }),
    ),
  },
  { description: 'What an export domain holds' },
);
export type ExportList = Static<typeof ExportList>;

export const ExportImportParams = Type.Object({ id: Uuid, entity_id: Uuid }, { additionalProperties: false });
export type ExportImportParams = Static<typeof ExportImportParams>;

/** `POST /storage-domains/{id}/exports/{entity_id}/import`. */
export const ExportImportRequest = Type.Object(
  {
    cluster_id: Uuid,
    /** The active data domain (of the cluster's data center) that receives the disks. */
    storage_domain_id: Uuid,
    /** A new name (default: the exported one). */
    name: Type.Optional(Name),
    /** `fail` (default): `409 name_in_use` when the name is taken; `rename`: `name-1`, `name-2`, … */
    on_clash: Type.Optional(Type.Union([Type.Literal('fail'), Type.Literal('rename')])),
    /**
     * New ids for the object, its disks and volumes (and new MACs). Needed when the exported object
     * still exists here (`409 id_in_use` otherwise).
     */
    new_ids: Type.Optional(Type.Boolean()),
    /** Which copy to import when the domain holds both an OVF and an OVA of the object (default: ovf). */
    source: Type.Optional(Type.Union([Type.Literal('ovf'), Type.Literal('ova')])),
    /**
     * Foreign OVAs: put the VM's NICs on this existing Linux bridge (default: user-mode networking;
     * the networks another platform named mean nothing here).
     */
    bridge: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.-]{1,15}$' })),
  },
  { additionalProperties: false },
);
export type ExportImportRequest = Static<typeof ExportImportRequest>;

export const ExportImportAccepted = Type.Object(
  {
    operation: Type.Ref(Operation),
    kind: Type.Union([Type.Literal('vm'), Type.Literal('template')]),
    /** The id of the VM or template being created. */
    id: Uuid,
    name: Type.String(),
  },
  { description: 'Accepted: the VM or template exists (locked disks); this operation copies its disks' },
);
export type ExportImportAccepted = Static<typeof ExportImportAccepted>;
