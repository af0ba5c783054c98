import type { CommandSpec } from '../../framework/spec';
import { deleteCommand } from '../common/crud';
import { hostKind } from '../common/kinds';

/** `host remove`: the engine refuses while VMs are meant to run there (put it in maintenance first). */
export const hostRemove: CommandSpec = {
  ...deleteCommand(hostKind),
  path: ['host', 'remove'],
  aliases: ['rm', 'delete'],
  summary: 'remove a host from the engine (after maintenance)',
};
