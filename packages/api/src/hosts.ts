import { type Static, Type } from '@sinclair/typebox';
import { ListQuery, Name, Page, Timestamp, Uuid } from './common';

export const HOST_STATES = [
  'installing',
  'install_failed',
  'connecting',
  'up',
  'non_responsive',
  'maintenance',
  'preparing_maintenance',
] as const;
export type HostState = (typeof HOST_STATES)[number];

/** Default agent port (vireo-agent listens on 54321 unless told otherwise). */
export const DEFAULT_AGENT_PORT = 54321;

const Address = Type.String({
  minLength: 1,
  maxLength: 253,
  pattern: '^[A-Za-z0-9.:_-]+$',
  description: 'DNS name or IP address the engine dials; the SAN of the host certificate.',
});
const Port = Type.Integer({ minimum: 1, maximum: 65535, description: 'TCP port of the agent.' });

export const Host = Type.Object(
  {
    id: Uuid,
    name: Name,
    address: Address,
    port: Port,
    cluster_id: Uuid,
    state: Type.Union(
      HOST_STATES.map((s) => Type.Literal(s)),
      { description: 'Observed state, written by the engine monitor.' },
    ),
    state_reason: Type.String({ description: 'Why the host is in this state (empty when up).' }),
    state_changed_at: Timestamp,
    agent_version: Type.Union([Type.String(), Type.Null()]),
    capabilities: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()], {
      description: 'What the agent reported on connect (host.capabilities), null before the first connect.',
    }),
    stats: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()], {
      description: 'Latest host.stats sample, null before the first heartbeat.',
    }),
    last_heartbeat_at: Type.Union([Timestamp, Type.Null()]),
    certificate: Type.Union([Type.Object({ serial: Type.String(), not_after: Timestamp }), Type.Null()], {
      description: 'The host certificate the engine issued.',
    }),
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  { description: 'A machine running vireo-agent' },
);
export type Host = Static<typeof Host>;

export const HostPage = Page(Host);
export const HostListQuery = ListQuery(['name', 'created_at'], {
  cluster_id: Type.Optional(Uuid),
});
export type HostListQuery = Static<typeof HostListQuery>;

export const JOIN_TOKEN_TTL_DEFAULT_S = 3600;
export const JOIN_TOKEN_TTL_MAX_S = 7 * 86_400;

export const JoinTokenCreate = Type.Object(
  {
    cluster_id: Uuid,
    ttl_s: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: JOIN_TOKEN_TTL_MAX_S,
        description: `Seconds the token stays valid (default ${JOIN_TOKEN_TTL_DEFAULT_S}).`,
      }),
    ),
  },
  { additionalProperties: false },
);
export type JoinTokenCreate = Static<typeof JoinTokenCreate>;

export const JoinTokenCreated = Type.Object(
  {
    token: Type.String({ description: 'Shown once; the engine keeps only its SHA-256.' }),
    expires_at: Timestamp,
    cluster_id: Uuid,
    ca_fingerprint: Type.String({
      description: 'SHA-256 fingerprint of the engine CA, for `vireo-agent join --ca-fingerprint`.',
    }),
  },
  {},
);
export type JoinTokenCreated = Static<typeof JoinTokenCreated>;

export const HostJoin = Type.Object(
  {
    token: Type.String({ minLength: 16, maxLength: 256 }),
    name: Name,
    address: Address,
    port: Type.Optional(Port),
    public_key: Type.String({
      minLength: 64,
      maxLength: 4096,
      description:
        'The agent key (SPKI PEM, ECDSA P-256) it generated itself; the private key stays on the host.',
    }),
  },
  { additionalProperties: false },
);
export type HostJoin = Static<typeof HostJoin>;

export const HostJoined = Type.Object(
  {
    host_id: Uuid,
    certificate: Type.String({ description: 'PEM host certificate (SAN = address).' }),
    ca: Type.String({ description: 'PEM engine CA: the agent accepts engine clients it signed.' }),
  },
  {},
);
export type HostJoined = Static<typeof HostJoined>;
