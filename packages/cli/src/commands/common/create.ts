import type { Operation, Resource, VireoClient } from '@vireo/client';
import { usageError } from '../../framework/errors';
import type { CommandContext } from '../../framework/spec';
import type { ResourceKind } from './kinds';
import { finishMutation } from './mutation';

/** After a create Operation succeeded: the object it made, when the Operation names it. */
export function fetchTarget<T extends Resource>(client: VireoClient, kind: ResourceKind<T>) {
  return async (op: Operation): Promise<unknown> => {
    const id = (op.result as { id?: unknown } | null | undefined)?.id ?? op.target?.id;
    return typeof id === 'string' ? kind.api(client).get(id) : op;
  };
}

/** POSTs `body` to the kind's collection and reports the outcome. */
export async function createObject<T extends Resource>(
  ctx: CommandContext,
  kind: ResourceKind<T>,
  body: Record<string, unknown>,
): Promise<number> {
  const { client } = await ctx.session.connect(ctx.opts.profile);
  const result = await kind.api(client).create(body, { signal: ctx.session.signal });
  return finishMutation(ctx, client, result, {
    done: `created ${kind.label} ${String(body.name ?? '')}`.trim(),
    afterSuccess: fetchTarget(client, kind),
  });
}

/** PATCHes an object with If-Match from a fresh GET, so concurrent edits are not overwritten. */
export async function updateObject<T extends Resource>(
  ctx: CommandContext,
  kind: ResourceKind<T>,
  nameOrId: unknown,
  patch: Record<string, unknown>,
): Promise<number> {
  if (Object.keys(patch).length === 0) throw usageError('nothing to change: give at least one option');
  const { client } = await ctx.session.connect(ctx.opts.profile);
  const api = kind.api(client);
  const found = await api.resolve(String(nameOrId), {}, ctx.session.signal);
  const current = await api.getVersioned(found.id, ctx.session.signal);
  const result = await api.update(found.id, patch, { ifMatch: current.etag, signal: ctx.session.signal });
  return finishMutation(ctx, client, result, {
    done: `updated ${kind.label} ${found.name ?? found.id}`,
    afterSuccess: fetchTarget(client, kind),
  });
}
