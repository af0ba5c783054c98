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

/** SSH access for `POST /hosts` (ADR 015): held in the engine's memory for the deploy only. */
export const HostSshAccess = Type.Object(
  {
    user: Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z_][a-z0-9_-]*$' }),
    port: Type.Optional(Port),
    password: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
    private_key: Type.Optional(
      Type.String({ minLength: 64, maxLength: 16_384, description: 'PEM or OpenSSH private key.' }),
    ),
    host_key_sha256: Type.Optional(
      Type.String({
        pattern: '^SHA256:[A-Za-z0-9+/]{43}=?$',
        description:
          'Pin for the host key as `ssh-keygen -lf` prints it; without it the first key is pinned.',
      }),
    ),
  },
  { additionalProperties: false, description: 'Exactly one of password and private_key.' },
);
export type HostSshAccess = Static<typeof HostSshAccess>;

export const HostCreate = Type.Object(
  {
    name: Name,
    address: Address,
    cluster_id: Uuid,
    ssh: HostSshAccess,
    engine_url: Type.Optional(
      Type.String({
        pattern: '^https://[^\\s/]+$',
        maxLength: 300,
        description:
          'The engine as the host reaches it (default: VIREO_ENGINE_URL_FOR_HOSTS, else this request’s URL).',
      }),
    ),
  },
  { additionalProperties: false },
);
export type HostCreate = Static<typeof HostCreate>;

export const HostDeployLog = Type.Object(
  {
    lines: Type.Array(Type.Object({ at: Timestamp, message: Type.String() })),
  },
  { description: 'What the last SSH deploy of this host did (empty when it was not deployed by SSH).' },
);
export type HostDeployLog = Static<typeof HostDeployLog>;
