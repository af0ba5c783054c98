import { type Static, Type } from '@sinclair/typebox';
import { Description, Name, Timestamp, Uuid } from './common';
import { Operation } from './operations';
import { Vm } from './vms';

export const TEMPLATE_STATES = ['locked', 'ok', 'illegal'] as const;

/** One template disk: a disk whose single volume is the read-only base clones build on. */
export const TemplateDisk = Type.Object(
  {
    disk_id: Uuid,
    volume_id: Uuid,
    storage_domain_id: Uuid,
    position: Type.Integer(),
    interface: Type.String(),
    bootable: Type.Boolean(),
    size_bytes: Type.Integer(),
    format: Type.Union([Type.Literal('qcow2'), Type.Literal('raw')]),
  },
  { additionalProperties: false },
);

export const Template = Type.Object(
  {
    id: Uuid,
    name: Type.String(),
    description: Type.String(),
    cluster_id: Uuid,
    version_of: Type.Union([Uuid, Type.Null()]),
    version_number: Type.Integer(),
    cpus: Type.Integer(),
    memory_mib: Type.Integer(),
    os_type: Type.String(),
    boot_order: Type.Array(Type.String()),
    nics: Type.Array(Type.Unknown()),
    /** The console VMs made from the template get (the source VM's; `vnc` or `serial`). */
    console: Type.Union([Type.Literal('vnc'), Type.Literal('serial')]),
    created_from_vm_id: Type.Union([Uuid, Type.Null()]),
    state: Type.Union(
      TEMPLATE_STATES.map((s) => Type.Literal(s)),
      { description: 'locked (its disks are being copied); ok; illegal (the copy failed: delete it)' },
    ),
    disks: Type.Array(TemplateDisk),
    version: Type.Integer(),
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  { additionalProperties: false },
);
export type Template = Static<typeof Template>;

export const TemplateList = Type.Object(
  { items: Type.Array(Template) },
  { description: 'Templates by name (at most 500)' },
);
export type TemplateList = Static<typeof TemplateList>;

export const TemplateCreate = Type.Object(
  {
    vm_id: Uuid,
    name: Name,
    description: Type.Optional(Description),
    /**
     * Reset the guest's machine-id (emptied, regenerated at first boot) and hostname (`localhost`)
     * in each copied disk, inside an isolated appliance VM on the disk's host (ADR 030). A failure
     * leaves the template `illegal`.
     */
    seal: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type TemplateCreate = Static<typeof TemplateCreate>;

export const TemplateUpdate = Type.Object(
  { name: Type.Optional(Name), description: Type.Optional(Description) },
  { additionalProperties: false },
);
export type TemplateUpdate = Static<typeof TemplateUpdate>;

export const TemplateAccepted = Type.Object(
  { operation: Type.Ref(Operation), template: Template },
  { description: 'Accepted: the template disks are copied by this operation' },
);
export type TemplateAccepted = Static<typeof TemplateAccepted>;

export const TemplateVmCreate = Type.Object(
  {
    name: Name,
    /**
     * `thin` (default): each disk is a qcow2 overlay on the template's volume (same storage domain;
     * the template cannot be deleted while it exists). `full`: an independent, flattened copy.
     */
    clone: Type.Optional(Type.Union([Type.Literal('thin'), Type.Literal('full')])),
    /** The VM's console (default: the template's). */
    console: Type.Optional(Type.Union([Type.Literal('vnc'), Type.Literal('serial')])),
  },
  { additionalProperties: false },
);
export type TemplateVmCreate = Static<typeof TemplateVmCreate>;

export const TemplateVmAccepted = Type.Object(
  { operation: Type.Ref(Operation), vm: Type.Ref(Vm) },
  { description: 'Accepted: the VM exists; its disks are made by this operation (vm.clone)' },
);
export type TemplateVmAccepted = Static<typeof TemplateVmAccepted>;
