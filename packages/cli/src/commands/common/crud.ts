import type { ListQuery, Resource } from '@vireo/client';
import { usageError } from '../../framework/errors';
import type { CommandContext, CommandSpec, OptionSpec } from '../../framework/spec';
import type { ResourceKind } from './kinds';
import { finishMutation, WAIT_OPTIONS } from './mutation';
import { printList, printObject } from './output';

export const LIST_OPTIONS: readonly OptionSpec[] = [
  { flags: '--search <text>', description: 'only objects matching this search' },
  { flags: '--sort <field>', description: 'sort by this field (prefix - for descending)' },
  { flags: '--limit <n>', description: 'show at most n objects (default: all)' },
];

export function parseLimit(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw usageError(`--limit must be a positive integer, not ${JSON.stringify(value)}`);
  return n;
}

/** Collects up to `limit` objects across pages. */
export async function collect<T extends Resource>(
  ctx: CommandContext,
  kind: ResourceKind<T>,
  query: ListQuery,
): Promise<T[]> {
  const { client } = await ctx.session.connect(ctx.opts.profile);
  const limit = parseLimit(ctx.opts.limit);
  const q: ListQuery = {
    ...query,
    search: ctx.opts.search as string | undefined,
    sort: ctx.opts.sort as string | undefined,
  };
  if (limit !== undefined) q.limit = Math.min(limit, 500);
  const rows: T[] = [];
  for await (const item of kind.api(client).paginate(q, ctx.session.signal)) {
    rows.push(item);
    if (limit !== undefined && rows.length >= limit) break;
  }
  return rows;
}

/** `<noun> list`. `extra` adds filters such as `--datacenter`. */
export function listCommand<T extends Resource>(
  kind: ResourceKind<T>,
  extra: {
    options?: readonly OptionSpec[];
    query?: (ctx: CommandContext) => Promise<ListQuery>;
    decorate?: (ctx: CommandContext, rows: T[]) => Promise<T[]>;
  } = {},
): CommandSpec {
  return {
    path: [kind.noun, 'list'],
    aliases: ['ls'],
    summary: `list ${kind.label}s`,
    options: [...LIST_OPTIONS, ...(extra.options ?? [])],
    async run(ctx) {
      const query = extra.query ? await extra.query(ctx) : {};
      let rows = await collect(ctx, kind, query);
      if (extra.decorate) rows = await extra.decorate(ctx, rows);
      printList(ctx, rows, kind.columns);
      return 0;
    },
  };
}

/** Resolves the NAME|ID argument of a command to an object. */
export async function resolveArg<T extends Resource>(
  ctx: CommandContext,
  kind: ResourceKind<T>,
  value: unknown,
) {
  const { client } = await ctx.session.connect(ctx.opts.profile);
  const object = await kind.api(client).resolve(String(value), {}, ctx.session.signal);
  return { client, object };
}

export function nameOrIdArg(kind: Pick<ResourceKind, 'noun' | 'label' | 'named'>) {
  return {
    name: kind.named ? 'name|id' : 'id',
    description: kind.named ? `the ${kind.label}'s name or id` : `the ${kind.label}'s id`,
    required: true,
    complete: { kind: 'resource', resource: kind.noun },
  } as const;
}

/** `<noun> show NAME|ID`. */
export function showCommand<T extends Resource>(kind: ResourceKind<T>): CommandSpec {
  return {
    path: [kind.noun, 'show'],
    aliases: ['get'],
    summary: `show one ${kind.label}`,
    args: [nameOrIdArg(kind)],
    async run(ctx) {
      const { object } = await resolveArg(ctx, kind, ctx.args[0]);
      printObject(ctx, object);
      return 0;
    },
  };
}

/** `<noun> delete NAME|ID [--wait]`. */
export function deleteCommand<T extends Resource>(kind: ResourceKind<T>): CommandSpec {
  return {
    path: [kind.noun, 'delete'],
    aliases: ['rm', 'remove'],
    summary: `delete a ${kind.label}`,
    args: [nameOrIdArg(kind)],
    options: WAIT_OPTIONS,
    async run(ctx) {
      const { client, object } = await resolveArg(ctx, kind, ctx.args[0]);
      const result = await kind.api(client).delete(object.id, { signal: ctx.session.signal });
      return finishMutation(ctx, client, result, {
        done: `deleted ${kind.label} ${object.name ?? object.id}`,
      });
    },
  };
}
