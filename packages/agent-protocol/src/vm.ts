import { type Static, Type } from '@sinclair/typebox';
import {
  EncryptionSecretString,
  HostPathString,
  SecretIdString,
  UuidString,
  VmDiskSchema,
  VmNameString,
  VmSpecSchema,
} from './vm-spec';

const strict = { additionalProperties: false } as const;

/**
 * What the agent observes about a VM.
 * - `down`: no QEMU process (never started, shut down, powered off, or its QEMU died: see `reason`).
 * - `starting`: QEMU is being prepared and launched; not yet running guest code.
 * - `up`: the guest's vCPUs run.
 * - `paused`: QEMU lives, vCPUs stopped (vm.pause, or QEMU stopped them, e.g. on an I/O error).
 * - `powering_down`: an ACPI power-off was requested; the guest has not finished yet.
 * - `crashed`: QEMU lives but the guest is dead (`guest-panicked`, `internal-error`).
 * - `damaged`: the VM's state directory is unusable (spec unreadable, pid lost, QMP unreachable
 *   while the process lives). The agent leaves such a VM alone; a person decides.
 * - `unknown`: transient, while the agent is still finding out (e.g. during recovery).
 */
export const VM_STATES = [
  'down',
  'starting',
  'up',
  'paused',
  'powering_down',
  'crashed',
  'damaged',
  'unknown',
] as const;
export type VmState = (typeof VM_STATES)[number];
export const VmStateSchema = Type.Union(VM_STATES.map((s) => Type.Literal(s)));

/** Why the last transition happened. Append only. */
export const VM_STATE_REASONS = [
  'created',
  'starting',
  'started',
  'start_failed',
  /** The guest powered itself off (or answered an ACPI power-off). */
  'guest_shutdown',
  /** The agent powered the VM off (vm.stop, or vm.shutdown after its timeout). */
  'powered_off',
  'powerdown_requested',
  /** QEMU exited without anyone asking: killed, segfault, OOM killer. */
  'crashed',
  'guest_panicked',
  'paused',
  'paused_io_error',
  'resumed',
  'reset',
  'rebooted',
  /** Found again after an agent restart. */
  'recovered',
  'damaged',
  'destroyed',
] as const;
export type VmStateReason = (typeof VM_STATE_REASONS)[number];
export const VmStateReasonSchema = Type.Union(VM_STATE_REASONS.map((s) => Type.Literal(s)));

/** Where the VM's VNC display listens (always loopback: the engine's console proxy reaches it). */
export const VncEndpointSchema = Type.Object(
  {
    host: Type.String(),
    port: Type.Integer({ minimum: 1, maximum: 65535 }),
    websocket_port: Type.Integer({ minimum: 1, maximum: 65535 }),
  },
  strict,
);
export type VncEndpoint = Static<typeof VncEndpointSchema>;

export const SerialEndpointSchema = Type.Object({ socket: Type.String(), log: Type.String() }, strict);
export type SerialEndpoint = Static<typeof SerialEndpointSchema>;

/** One VM as the agent reports it. */
export const VmInfoSchema = Type.Object(
  {
    id: UuidString,
    /** `null` when the spec could not be read (a `damaged` VM). */
    name: Type.Union([VmNameString, Type.Null()]),
    state: VmStateSchema,
    reason: VmStateReasonSchema,
    /** A person-readable explanation for `damaged` and failed states. */
    detail: Type.Optional(Type.String()),
    pid: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()]),
    /** When the current QEMU process started (RFC 3339), `null` when down. */
    started_at: Type.Union([Type.String(), Type.Null()]),
    vnc: Type.Union([VncEndpointSchema, Type.Null()]),
    serial: Type.Union([SerialEndpointSchema, Type.Null()]),
  },
  strict,
);
export type VmInfo = Static<typeof VmInfoSchema>;

/**
 * A `qemu-system-*` process on the host that this agent does not own (started by hand, by libvirt,
 * or by another agent's state directory). Listed, never touched.
 */
export const ExternalVmSchema = Type.Object(
  {
    pid: Type.Integer({ minimum: 1 }),
    binary: Type.String(),
    /** From `-name` / `-uuid` when the command line has them. */
    name: Type.Union([Type.String(), Type.Null()]),
    uuid: Type.Union([Type.String(), Type.Null()]),
  },
  strict,
);
export type ExternalVm = Static<typeof ExternalVmSchema>;

// ---- method params and results ----

export const VmIdParamsSchema = Type.Object({ vm_id: UuidString }, strict);
export type VmIdParams = Static<typeof VmIdParamsSchema>;

/** VNC passwords: QEMU's VNC authentication only uses the first 8 characters, so longer ones are refused. */
export const VncPasswordString = Type.String({ minLength: 1, maxLength: 8, pattern: '^[\\x21-\\x7e]+$' });

export const ConsoleTicketSchema = Type.Object(
  {
    password: VncPasswordString,
    /** Seconds the password stays valid; then every VNC login fails until a new one is set. */
    valid_s: Type.Integer({ minimum: 1, maximum: 86_400 }),
  },
  strict,
);

export const VmStartParamsSchema = Type.Object(
  {
    spec: VmSpecSchema,
    /** Optional first VNC password (set over QMP before the guest runs). */
    console: Type.Optional(ConsoleTicketSchema),
    /** Leave the vCPUs stopped (state `paused`); `vm.resume` lets the guest run. */
    paused: Type.Optional(Type.Boolean()),
    /**
     * Values of the disks' `encryption_secret_id`s (base64 keys), by id. They reach QEMU through 0600
     * files deleted once QEMU has opened the disks; never argv, never logs.
     */
    secrets: Type.Optional(Type.Record(SecretIdString, EncryptionSecretString)),
    /**
     * Resume the guest from this saved memory state (a memory snapshot's file) instead of booting:
     * QEMU starts with `-incoming defer` and the agent streams the file in. The spec's devices and
     * RAM must be those the state was saved with, and the disks must be where it was taken.
     */
    restore_memory: Type.Optional(Type.Object({ path: HostPathString }, strict)),
  },
  strict,
);
export type VmStartParams = Static<typeof VmStartParamsSchema>;

export const VmResultSchema = Type.Object({ vm: VmInfoSchema }, strict);
export type VmResult = Static<typeof VmResultSchema>;

export const VmShutdownParamsSchema = Type.Object(
  {
    vm_id: UuidString,
    /** Seconds to wait for the guest to power off after the ACPI request; then the VM is powered off. */
    timeout_s: Type.Optional(Type.Integer({ minimum: 0, maximum: 3600 })),
  },
  strict,
);
export type VmShutdownParams = Static<typeof VmShutdownParamsSchema>;

export const VmShutdownResultSchema = Type.Object(
  {
    vm: VmInfoSchema,
    /** True when the guest did not power off in time and the agent powered the VM off. */
    forced: Type.Boolean(),
  },
  strict,
);
export type VmShutdownResult = Static<typeof VmShutdownResultSchema>;

export const VmRebootParamsSchema = Type.Object(
  {
    vm_id: UuidString,
    /** Seconds the guest gets to go down after the ACPI request before a hard reset. */
    timeout_s: Type.Optional(Type.Integer({ minimum: 0, maximum: 3600 })),
  },
  strict,
);
export type VmRebootParams = Static<typeof VmRebootParamsSchema>;

export const VmListParamsSchema = Type.Object({ include_external: Type.Optional(Type.Boolean()) }, strict);
export type VmListParams = Static<typeof VmListParamsSchema>;

export const VmListResultSchema = Type.Object(
  { vms: Type.Array(VmInfoSchema), external: Type.Array(ExternalVmSchema) },
  strict,
);
export type VmListResult = Static<typeof VmListResultSchema>;

export const VmGetResultSchema = Type.Object(
  {
    vm: VmInfoSchema,
    /** The spec the VM runs with now (hot-plugged disks and CD changes included); `null` if damaged. */
    spec: Type.Union([VmSpecSchema, Type.Null()]),
  },
  strict,
);
export type VmGetResult = Static<typeof VmGetResultSchema>;

export const VmDestroyResultSchema = Type.Object({ vm_id: UuidString }, strict);
export type VmDestroyResult = Static<typeof VmDestroyResultSchema>;

export const VmConsoleParamsSchema = Type.Union([
  Type.Object(
    {
      vm_id: UuidString,
      type: Type.Literal('vnc'),
      /** When absent the agent generates one and returns it. */
      password: Type.Optional(VncPasswordString),
      valid_s: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400 })),
    },
    strict,
  ),
  Type.Object({ vm_id: UuidString, type: Type.Literal('serial') }, strict),
]);
export type VmConsoleParams = Static<typeof VmConsoleParamsSchema>;

export const VmConsoleResultSchema = Type.Union([
  Type.Object(
    {
      type: Type.Literal('vnc'),
      endpoint: VncEndpointSchema,
      /** A secret: the caller hands it to one console client and must not log it. */
      password: Type.String(),
      expires_at: Type.String(),
    },
    strict,
  ),
  Type.Object({ type: Type.Literal('serial'), endpoint: SerialEndpointSchema }, strict),
]);
export type VmConsoleResult = Static<typeof VmConsoleResultSchema>;

export const VmChangeCdParamsSchema = Type.Object(
  {
    vm_id: UuidString,
    /** ISO to insert, or `null` to eject. */
    path: Type.Union([HostPathString, Type.Null()]),
  },
  strict,
);
export type VmChangeCdParams = Static<typeof VmChangeCdParamsSchema>;

export const VmAttachDiskParamsSchema = Type.Object(
  {
    vm_id: UuidString,
    disk: VmDiskSchema,
    /**
     * Values of the disk's `encryption_secret_id` / `base_encryption_secret_id` (base64 keys). They
     * reach QEMU only over its QMP socket (`object-add` of a secret), never argv or logs.
     */
    secrets: Type.Optional(Type.Record(SecretIdString, EncryptionSecretString)),
  },
  strict,
);
export type VmAttachDiskParams = Static<typeof VmAttachDiskParamsSchema>;

export const VmDetachDiskParamsSchema = Type.Object(
  { vm_id: UuidString, disk_id: Type.String({ minLength: 1, maxLength: 64 }) },
  strict,
);
export type VmDetachDiskParams = Static<typeof VmDetachDiskParamsSchema>;
