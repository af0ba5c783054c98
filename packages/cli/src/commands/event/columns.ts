import type { VireoEvent } from '@vireo/client';
import type { CommandContext, OptionSpec } from '../../framework/spec';
import type { Column } from '../../output/table';

const object = (e: VireoEvent) =>
  e.object_kind ? `${e.object_kind}/${e.object_name ?? e.object_id ?? ''}` : undefined;

export const EVENT_COLUMNS: Column<VireoEvent>[] = [
  { header: 'ID', value: (e) => e.id, overflow: 'fixed', align: 'right' },
  {
    header: 'TIME',
    value: (e) => (typeof e.time === 'string' ? e.time.replace(/\.\d+Z$/, 'Z') : e.time),
    overflow: 'fixed',
  },
  { header: 'SEVERITY', value: (e) => e.severity, overflow: 'fixed' },
  { header: 'KIND', value: (e) => e.kind, minWidth: 12 },
  { header: 'OBJECT', value: object, minWidth: 10 },
  { header: 'USER', value: (e) => e.username, minWidth: 6 },
  { header: 'MESSAGE', value: (e) => e.message, overflow: 'wrap', minWidth: 20 },
];

/** Filters the list and the live stream share. */
export const EVENT_FILTERS: readonly OptionSpec[] = [
  {
    flags: '--kind <kind>',
    description: 'only this kind, or kind prefix like "vm." (repeatable)',
    repeatable: true,
  },
  {
    flags: '--severity <level>',
    description: 'only this severity',
    choices: ['info', 'warning', 'error', 'audit'],
  },
  { flags: '--since <time>', description: 'only events at or after this RFC 3339 time' },
  { flags: '--object <id>', description: 'only events about the object with this id' },
];

export function eventFilterQuery(ctx: CommandContext) {
  const kinds = (ctx.opts.kind as string[] | undefined) ?? [];
  return {
    kind: kinds.length > 0 ? kinds : undefined,
    severity: ctx.opts.severity as string | undefined,
    since: ctx.opts.since as string | undefined,
    object_id: ctx.opts.object as string | undefined,
  };
}
