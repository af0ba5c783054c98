/**
 * The VM spec: everything the engine sends an agent to start (or receive by migration) one VM.
 *
 * The engine resolves every reference before sending (disks to paths, NICs to taps or bridges,
 * secrets to ids known to the agent), so the agent never has to look anything up. The schema is the
 * first gate against hostile input: every string that ends up in a QEMU argument is constrained by
 * a pattern here, and the agent re-validates the semantics (`validateVmSpec`) before building argv.
 */
import { type Static, Type } from '@sinclair/typebox';

const strict = { additionalProperties: false } as const;

/** Lower-case or upper-case RFC 4122 UUID (any version). */
export const UuidString = Type.String({
  pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$',
});

/** VM name: starts alphanumeric, then alphanumerics, `.`, `_`, `-`; at most 64; never `..`. */
export const VmNameString = Type.String({
  pattern: '^(?!.*\\.\\.)[A-Za-z0-9][A-Za-z0-9._-]{0,63}$',
});

/**
 * Identifier of a disk or NIC inside one VM (UUIDs fit). Only characters QEMU accepts in ids, so
 * device ids can be derived from it without escaping.
 */
export const DeviceIdString = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$' });

/** Identifier of a secret the agent holds; QEMU object ids must start with a letter. */
export const SecretIdString = Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_-]{0,63}$' });

/** A disk encryption key as it travels to an agent: base64 of 16–64 bytes. */
export const EncryptionSecretString = Type.String({
  pattern: '^[A-Za-z0-9+/]{22,88}={0,2}$',
  minLength: 24,
  maxLength: 88,
});

/** Absolute host path without control characters (QEMU options cannot carry newlines). */
export const HostPathString = Type.String({
  pattern: '^/[^\\u0000-\\u001f\\u007f]*$',
  minLength: 2,
  maxLength: 4096,
});

/** Unicast MAC address `aa:bb:cc:dd:ee:ff` (the multicast bit of the first octet must be clear). */
export const UnicastMacString = Type.String({
  pattern: '^[0-9a-fA-F][02468aceACE](:[0-9a-fA-F]{2}){5}$',
});

export const MachineTypeSchema = Type.Union([Type.Literal('q35'), Type.Literal('pc')]);
export type MachineType = Static<typeof MachineTypeSchema>;

export const VmCpuSchema = Type.Object(
  {
    /**
     * QEMU CPU model: `qemu64`, `max`, `host` (KVM only) or a named model such as `Skylake-Client-v4`.
     * Feature flags are deliberately not expressible here (no commas), only whole models.
     */
    model: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' }),
    sockets: Type.Integer({ minimum: 1, maximum: 16 }),
    cores: Type.Integer({ minimum: 1, maximum: 128 }),
    threads: Type.Integer({ minimum: 1, maximum: 8 }),
  },
  strict,
);
export type VmCpu = Static<typeof VmCpuSchema>;

export const DiskFormatSchema = Type.Union([Type.Literal('qcow2'), Type.Literal('raw')]);
export type DiskFormat = Static<typeof DiskFormatSchema>;

export const DiskInterfaceSchema = Type.Union([
  Type.Literal('virtio'),
  Type.Literal('scsi'),
  Type.Literal('ide'),
  Type.Literal('sata'),
]);
export type DiskInterface = Static<typeof DiskInterfaceSchema>;

/** QEMU cache modes; `none` (O_DIRECT, host page cache bypassed) is what the agent uses by default. */
export const DiskCacheSchema = Type.Union([
  Type.Literal('none'),
  Type.Literal('writeback'),
  Type.Literal('writethrough'),
  Type.Literal('directsync'),
  Type.Literal('unsafe'),
]);
export type DiskCache = Static<typeof DiskCacheSchema>;

export const VmDiskSchema = Type.Object(
  {
    id: DeviceIdString,
    path: HostPathString,
    format: DiskFormatSchema,
    interface: DiskInterfaceSchema,
    /** At most one disk is bootable; `boot_order: ["disk"]` boots it (or the first disk if none is). */
    bootable: Type.Boolean(),
    readonly: Type.Boolean(),
    cache: Type.Optional(DiskCacheSchema),
    /** Serial number the guest sees (virtio-blk allows 20 bytes). */
    serial: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._-]{1,20}$' })),
    /**
     * For LUKS-encrypted qcow2: the id of a secret the agent already holds. Only the id travels; the
     * agent hands the value to QEMU through a QMP `object-add` or a 0600 file, never through argv.
     */
    encryption_secret_id: Type.Optional(SecretIdString),
    /**
     * For a chain that ends in another disk's volumes (a thin clone's template base, in another
     * directory): the id of the secret that opens those encrypted layers. Layers in the directory of
     * `path` use `encryption_secret_id`; layers elsewhere use this one. Absent: those layers must be
     * plain.
     */
    base_encryption_secret_id: Type.Optional(SecretIdString),
  },
  strict,
);
export type VmDisk = Static<typeof VmDiskSchema>;

export const CdromInterfaceSchema = Type.Union([
  Type.Literal('ide'),
  Type.Literal('scsi'),
  Type.Literal('sata'),
]);

export const VmCdromSchema = Type.Object(
  {
    /** ISO image path, or `null` for an empty drive (media can be inserted later over QMP). */
    path: Type.Union([HostPathString, Type.Null()]),
    interface: CdromInterfaceSchema,
  },
  strict,
);
export type VmCdrom = Static<typeof VmCdromSchema>;

export const BootDeviceSchema = Type.Union([
  Type.Literal('cdrom'),
  Type.Literal('disk'),
  Type.Literal('network'),
]);
export type BootDevice = Static<typeof BootDeviceSchema>;

export const NicModelSchema = Type.Union([
  Type.Literal('virtio'),
  Type.Literal('e1000'),
  Type.Literal('rtl8139'),
]);
export type NicModel = Static<typeof NicModelSchema>;

/** A Linux interface name: at most 15 characters, no slashes or spaces. */
const IfnameString = Type.String({ pattern: '^[A-Za-z0-9_.-]{1,15}$' });

/**
 * A tap device the agent creates (unless it exists) before launching QEMU and removes after QEMU
 * exits. With `bridge`, the tap is made a port of that existing Linux bridge (`bridge_not_found`
 * when the host has no such bridge).
 */
export const NicTapBackendSchema = Type.Object(
  {
    type: Type.Literal('tap'),
    ifname: IfnameString,
    bridge: Type.Optional(IfnameString),
  },
  strict,
);

/** QEMU user-mode networking (slirp): no host set-up, outbound only. */
export const NicUserBackendSchema = Type.Object({ type: Type.Literal('user') }, strict);

export const NicBackendSchema = Type.Union([NicTapBackendSchema, NicUserBackendSchema]);
export type NicBackend = Static<typeof NicBackendSchema>;

export const VmNicSchema = Type.Object(
  {
    id: DeviceIdString,
    mac: UnicastMacString,
    model: NicModelSchema,
    backend: NicBackendSchema,
  },
  strict,
);
export type VmNic = Static<typeof VmNicSchema>;

/** Direct kernel boot (no firmware boot loader): used by fast tests and appliance VMs. */
export const VmKernelBootSchema = Type.Object(
  {
    kernel: HostPathString,
    initrd: Type.Optional(HostPathString),
    cmdline: Type.Optional(Type.String({ pattern: '^[^\\u0000-\\u001f\\u007f]*$', maxLength: 4096 })),
  },
  strict,
);
export type VmKernelBoot = Static<typeof VmKernelBootSchema>;

export const VmDisplaySchema = Type.Object({ vnc: Type.Boolean() }, strict);

export const VmSpecSchema = Type.Object(
  {
    id: UuidString,
    name: VmNameString,
    machine: MachineTypeSchema,
    cpu: VmCpuSchema,
    memory_mib: Type.Integer({ minimum: 16, maximum: 16 * 1024 * 1024 }),
    disks: Type.Array(VmDiskSchema, { maxItems: 64 }),
    cdrom: Type.Optional(VmCdromSchema),
    boot_order: Type.Array(BootDeviceSchema, { uniqueItems: true, maxItems: 3 }),
    nics: Type.Array(VmNicSchema, { maxItems: 16 }),
    kernel: Type.Optional(VmKernelBootSchema),
    display: VmDisplaySchema,
    /** A serial console (socket + log file) on the guest's first UART. */
    serial: Type.Boolean(),
    /** Guest OS family hint; `windows` guests get a local-time RTC. */
    os_type: Type.Optional(Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,31}$' })),
  },
  strict,
);

/** What the engine sends an agent to run one VM. Validate with `VmSpecSchema`, then `validateVmSpec`. */
export type VmSpec = Static<typeof VmSpecSchema>;
