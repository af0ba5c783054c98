import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { HostStatsSchema, VmNicStatsSchema } from './host';
import { VmStateReasonSchema, VmStateSchema } from './vm';
import { UuidString } from './vm-spec';

const strict = { additionalProperties: false } as const;

/**
 * `vm.state`: every state transition of every VM the agent owns, in the order they happened. Events
 * emitted while no engine is connected are not queued: a connecting engine calls `vm.list` after
 * `agent.hello` to learn the present, then follows the events.
 */
export const VmStateEventSchema = Type.Object(
  {
    vm_id: UuidString,
    state: VmStateSchema,
    reason: VmStateReasonSchema,
    detail: Type.Optional(Type.String()),
    /** RFC 3339 time the agent observed the transition. */
    at: Type.String(),
  },
  strict,
);
export type VmStateEvent = Static<typeof VmStateEventSchema>;

export const VmBlockStatsSchema = Type.Object(
  {
    /** qdev id of the guest device (`disk-<disk id>`, `cdrom0`). */
    device: Type.String(),
    rd_bytes: Type.Integer({ minimum: 0 }),
    wr_bytes: Type.Integer({ minimum: 0 }),
    rd_operations: Type.Integer({ minimum: 0 }),
    wr_operations: Type.Integer({ minimum: 0 }),
  },
  strict,
);

export const VmStatsSampleSchema = Type.Object(
  {
    vm_id: UuidString,
    /** User + system CPU time of the QEMU process since it started, in milliseconds. */
    cpu_time_ms: Type.Integer({ minimum: 0 }),
    /** Resident memory of the QEMU process. */
    rss_bytes: Type.Integer({ minimum: 0 }),
    block: Type.Array(VmBlockStatsSchema),
    /** Traffic of the VM's tap NICs (user-mode NICs have no host-side counters). */
    nics: Type.Array(VmNicStatsSchema),
  },
  strict,
);
export type VmStatsSample = Static<typeof VmStatsSampleSchema>;

/** `vm.stats`: one sample of every running VM per interval, in one message. */
export const VmStatsEventSchema = Type.Object(
  { at: Type.String(), vms: Type.Array(VmStatsSampleSchema) },
  strict,
);
export type VmStatsEvent = Static<typeof VmStatsEventSchema>;

/** `job.progress`: long host-side work (image copies, conversions). */
export const JobProgressEventSchema = Type.Object(
  {
    job_id: Type.String(),
    kind: Type.String(),
    state: Type.Union([Type.Literal('running'), Type.Literal('succeeded'), Type.Literal('failed')]),
    progress: Type.Number({ minimum: 0, maximum: 1 }),
    error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String() }, strict)),
  },
  strict,
);
export type JobProgressEvent = Static<typeof JobProgressEventSchema>;

/** `agent.events_revoked`: sent to the previous event receiver when another connection took over. */
export const EventsRevokedEventSchema = Type.Object({ reason: Type.String() }, strict);

/** Every event (JSON-RPC notification) an agent sends, by method name. */
export const AgentEvents = {
  'vm.state': VmStateEventSchema,
  'vm.stats': VmStatsEventSchema,
  'host.stats': HostStatsSchema,
  'job.progress': JobProgressEventSchema,
  'agent.events_revoked': EventsRevokedEventSchema,
} as const satisfies Record<string, TSchema>;

export type AgentEventName = keyof typeof AgentEvents;
export type AgentEventParams<E extends AgentEventName> = Static<(typeof AgentEvents)[E]>;
