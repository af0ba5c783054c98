import { type Static, Type } from '@sinclair/typebox';
import { ListQuery, Name, Page, Timestamp, Uuid } from './common';

/** States the engine reports for a VM (design.md). Only the VM monitor writes them. */
export const VM_API_STATES = [
  'down',
  'starting',
  'up',
  'paused',
  'powering_down',
  'migrating',
  'unknown',
] as const;
export type VmApiState = (typeof VM_API_STATES)[number];

/** What a user can ask a VM to be. */
export const VM_DESIRED_STATES = ['down', 'up', 'paused'] as const;
export type VmDesiredState = (typeof VM_DESIRED_STATES)[number];

/** Power actions: `POST /vms/{id}/{action}` answers 202 with an operation of type `vm.{action}`. */
export const VM_ACTIONS = ['start', 'shutdown', 'stop', 'reboot', 'suspend', 'resume'] as const;
export type VmAction = (typeof VM_ACTIONS)[number];

/** Guest OS families; they pick sensible device defaults, nothing more. */
export const VM_OS_TYPES = ['other', 'other_linux', 'debian', 'ubuntu', 'rhel', 'windows'] as const;
export const VM_BOOT_DEVICES = ['cdrom', 'disk', 'network'] as const;
export const VM_DISK_INTERFACES = ['virtio', 'scsi', 'ide', 'sata'] as const;
export const VM_MAX_DISKS = 16;
export const VM_MAX_NICS = 8;
export const VM_MAX_CPUS = 64;
export const VM_MIN_MEMORY_MIB = 16;
export const VM_MAX_MEMORY_MIB = 1_048_576;
/**
 * How users reach a VM: `vnc` gives it a VGA display, a USB tablet and a VNC listener (and a serial
 * port); `serial` is headless — no display devices at all, the serial port is the way in.
 */
export const VM_CONSOLE_TYPES = ['vnc', 'serial'] as const;
export type VmConsoleType = (typeof VM_CONSOLE_TYPES)[number];

const lit = <T extends string>(values: readonly T[], description: string) =>
  Type.Union(
    values.map((v) => Type.Literal(v)),
    { description },
  );

const Cpus = Type.Integer({ minimum: 1, maximum: VM_MAX_CPUS, description: 'Virtual CPUs.' });
const MemoryMib = Type.Integer({
  minimum: VM_MIN_MEMORY_MIB,
  maximum: VM_MAX_MEMORY_MIB,
  description: 'Guest memory in MiB.',
});
const OsType = lit(VM_OS_TYPES, 'Guest OS family.');
const ConsoleType = lit(
  VM_CONSOLE_TYPES,
  'Console: `vnc` (the default: a graphical display + the serial port) or `serial` (headless: no display, USB or VNC; changes apply at the next start).',
);
const BootOrder = Type.Array(lit(VM_BOOT_DEVICES, 'Boot device.'), {
  minItems: 1,
  maxItems: 3,
  uniqueItems: true,
  description: 'Devices to boot from, in order.',
});
/** A file name inside the ISO directory: no path separators, no leading dot. */
const IsoName = Type.String({
  minLength: 1,
  maxLength: 255,
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$',
  description: 'File name of an image in the ISO directory (VIREO_ISO_DIR).',
});
const CdromSpec = Type.Union([
  Type.Object(
    { storage_domain_id: Uuid, file: IsoName },
    { additionalProperties: false, description: 'CD-ROM with an ISO file of an ISO storage domain.' },
  ),
  Type.Object(
    { image: IsoName },
    { additionalProperties: false, description: 'CD-ROM with an image in VIREO_ISO_DIR (older form).' },
  ),
]);

export const VmDiskCreate = Type.Object(
  {
    size_gib: Type.Integer({ minimum: 1, maximum: 65536, description: 'Size of the new blank disk.' }),
    format: Type.Optional(lit(['qcow2', 'raw'] as const, 'Image format (default qcow2).')),
    interface: Type.Optional(lit(VM_DISK_INTERFACES, 'Bus the guest sees (default virtio).')),
    bootable: Type.Optional(Type.Boolean({ description: 'Boot from this disk (at most one).' })),
    storage_domain_id: Type.Optional(
      Type.String({
        format: 'uuid',
        description: "Data domain for the new disk (default: the data center's first active data domain).",
      }),
    ),
    encrypted: Type.Optional(
      Type.Boolean({
        description:
          "LUKS inside qcow2 with a per-disk key the engine keeps (qcow2 only; default: the engine's disks.encrypt_by_default).",
      }),
    ),
  },
  { additionalProperties: false },
);
export type VmDiskCreate = Static<typeof VmDiskCreate>;

export const VM_NIC_MODELS = ['virtio', 'e1000', 'rtl8139'] as const;
const NicMac = Type.String({
  pattern: '^[0-9a-fA-F][02468aceACE](:[0-9a-fA-F]{2}){5}$',
  description: 'Unicast MAC; generated when left out.',
});
const NicModel = lit(VM_NIC_MODELS, 'Device the guest sees (default virtio).');

/** User-mode networking: no host set-up, outbound only. */
export const VmUserNic = Type.Object(
  {
    type: Type.Literal('user', { description: 'User-mode networking (outbound only).' }),
    mac: Type.Optional(NicMac),
    model: Type.Optional(NicModel),
  },
  { additionalProperties: false },
);

/**
 * A NIC on a Linux bridge that already exists on the host: the agent gives the VM a tap port on
 * it at start and removes the tap at stop. A host without the bridge fails the start with
 * `bridge_not_found`.
 */
export const VmBridgeNic = Type.Object(
  {
    type: Type.Optional(Type.Literal('bridge', { description: 'Implied by `bridge`.' })),
    bridge: Type.String({
      pattern: '^[A-Za-z0-9_.-]{1,15}$',
      description: 'Name of an existing Linux bridge on the host.',
    }),
    mac: Type.Optional(NicMac),
    model: Type.Optional(NicModel),
  },
  { additionalProperties: false },
);

export const VmNic = Type.Union([VmUserNic, VmBridgeNic]);
export type VmNic = Static<typeof VmNic>;

/** One disk as the VM has it (the attachment with its disk; manage both under /disks). */
export const VmDisk = Type.Object({
  id: Uuid,
  name: Type.String(),
  size_gib: Type.Integer(),
  size_bytes: Type.Integer(),
  format: Type.String(),
  interface: Type.String(),
  bootable: Type.Boolean(),
  /** Given to QEMU when the VM starts. */
  active: Type.Boolean(),
  storage_domain_id: Uuid,
});
export type VmDisk = Static<typeof VmDisk>;

export const Vm = Type.Object(
  {
    id: Uuid,
    name: Name,
    cluster_id: Uuid,
    host_id: Type.Union([Uuid, Type.Null()], { description: 'Where it runs or last ran.' }),
    state: lit(VM_API_STATES, 'Observed state, reported by the host.'),
    state_reason: Type.String(),
    desired_state: lit(VM_DESIRED_STATES, 'What the engine drives the VM towards.'),
    cpus: Type.Integer(),
    memory_mib: Type.Integer(),
    os_type: Type.String(),
    boot_order: Type.Array(Type.String()),
    cdrom: Type.Union([CdromSpec, Type.Null()]),
    disks: Type.Array(VmDisk),
    nics: Type.Array(VmNic),
    console: ConsoleType,
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  { $id: 'Vm', description: 'A virtual machine' },
);
export type Vm = Static<typeof Vm>;

export const VmCreate = Type.Object(
  {
    name: Name,
    cluster_id: Uuid,
    cpus: Type.Optional(Cpus),
    memory_mib: Type.Optional(MemoryMib),
    os_type: Type.Optional(OsType),
    boot_order: Type.Optional(BootOrder),
    cdrom: Type.Optional(Type.Union([CdromSpec, Type.Null()])),
    disks: Type.Optional(Type.Array(VmDiskCreate, { maxItems: VM_MAX_DISKS })),
    nics: Type.Optional(Type.Array(VmNic, { maxItems: VM_MAX_NICS })),
    console: Type.Optional(ConsoleType),
  },
  { additionalProperties: false },
);
export type VmCreate = Static<typeof VmCreate>;

/** PATCH body (If-Match). Hardware changes take effect at the next start. */
export const VmUpdate = Type.Object(
  {
    name: Type.Optional(Name),
    cpus: Type.Optional(Cpus),
    memory_mib: Type.Optional(MemoryMib),
    os_type: Type.Optional(OsType),
    boot_order: Type.Optional(BootOrder),
    cdrom: Type.Optional(Type.Union([CdromSpec, Type.Null()])),
    console: Type.Optional(ConsoleType),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type VmUpdate = Static<typeof VmUpdate>;

export const VmDeleteQuery = Type.Object(
  {
    remove_disks: Type.Optional(
      Type.Boolean({ default: true, description: 'Also delete the disk images on the host.' }),
    ),
  },
  { additionalProperties: false },
);
export type VmDeleteQuery = Static<typeof VmDeleteQuery>;

export const VM_SORT_FIELDS = ['name', 'created_at', 'updated_at'] as const;
export const VmListQuery = ListQuery(VM_SORT_FIELDS, {
  cluster_id: Type.Optional(Uuid),
  host_id: Type.Optional(Uuid),
});
export type VmListQuery = Static<typeof VmListQuery>;
export const VmPage = Page(Type.Ref(Vm), 'VmPage');

/** `POST /vms/{id}/console` body. */
export const VmConsoleRequest = Type.Object(
  { type: lit(['vnc', 'serial'] as const, 'Console kind.') },
  { additionalProperties: false },
);
export type VmConsoleRequest = Static<typeof VmConsoleRequest>;

export const VmConsoleTicket = Type.Object(
  {
    type: Type.String(),
    ticket: Type.String({
      description: 'One-time, valid up to 120 s. For VNC its first 8 characters are the VNC password.',
    }),
    ws_url: Type.String({ description: 'Engine WebSocket path (binary frames) to open with the ticket.' }),
    expires_at: Timestamp,
  },
  { $id: 'VmConsoleTicket', description: 'A ticket for one console connection' },
);
export type VmConsoleTicket = Static<typeof VmConsoleTicket>;
