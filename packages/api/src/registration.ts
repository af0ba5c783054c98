import { type Static, Type } from '@sinclair/typebox';
import { Name, Uuid } from './common';

/**
 * Registration of what an imported data domain holds (issue 5 items 1 and 6): disks found in its
 * `images/` with their metadata under `master/disks/`, VMs from `master/vms/*.ovf`, that this engine
 * does not know yet. An entry with a `problem` cannot be registered; the problem says why.
 */

const Problem = Type.Union([
  Type.Null(),
  Type.Object(
    {
      code: Type.String({
        description: 'Stable snake_case reason (e.g. image_chain_invalid, disk_metadata_missing).',
      }),
      message: Type.String(),
    },
    { additionalProperties: false },
  ),
]);

const Format = Type.Union([Type.Literal('qcow2'), Type.Literal('raw')]);

export const UnregisteredDisk = Type.Object(
  {
    id: Uuid,
    name: Type.Union([Type.String(), Type.Null()], {
      description: 'From the disk metadata; null without it.',
    }),
    description: Type.String(),
    format: Type.Union([Format, Type.Null()]),
    size_bytes: Type.Union([Type.Integer(), Type.Null()], {
      description: 'Virtual size of the leaf volume.',
    }),
    shareable: Type.Boolean(),
    volumes: Type.Array(
      Type.Object(
        {
          id: Uuid,
          parent_id: Type.Union([Uuid, Type.Null()]),
          format: Format,
          size_bytes: Type.Integer(),
          active: Type.Boolean(),
        },
        { additionalProperties: false },
      ),
      { description: 'The chain, root first; the last is the active leaf.' },
    ),
    base: Type.Union(
      [Type.Object({ disk_id: Uuid, volume_id: Uuid }, { additionalProperties: false }), Type.Null()],
      {
        description: 'A thin clone: the template disk volume it is backed by.',
      },
    ),
    problem: Problem,
  },
  { additionalProperties: false },
);
export type UnregisteredDisk = Static<typeof UnregisteredDisk>;

export const UnregisteredVm = Type.Object(
  {
    id: Uuid,
    name: Type.String(),
    kind: Type.Union([Type.Literal('vm'), Type.Literal('template')]),
    cpus: Type.Union([Type.Integer(), Type.Null()]),
    memory_mib: Type.Union([Type.Integer(), Type.Null()]),
    disk_ids: Type.Array(Uuid),
    problem: Problem,
  },
  { additionalProperties: false },
);
export type UnregisteredVm = Static<typeof UnregisteredVm>;

export const UnregisteredList = Type.Object(
  { disks: Type.Array(UnregisteredDisk), vms: Type.Array(UnregisteredVm) },
  { additionalProperties: false, description: 'What the domain holds that this engine does not know' },
);
export type UnregisteredList = Static<typeof UnregisteredList>;

export const RegisterVmBody = Type.Object(
  {
    cluster_id: Uuid,
    /** Default: the name in the OVF. */
    name: Type.Optional(Name),
    /** `fail` (default): 409 `name_in_use` when the name is taken; `rename`: `name-1`, `name-2`… */
    on_clash: Type.Optional(Type.Union([Type.Literal('fail'), Type.Literal('rename')])),
  },
  { additionalProperties: false },
);
export type RegisterVmBody = Static<typeof RegisterVmBody>;

export const RegistrationParams = Type.Object({ id: Uuid, item_id: Uuid }, { additionalProperties: false });
export type RegistrationParams = Static<typeof RegistrationParams>;
