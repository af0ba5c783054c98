import type { CommandSpec } from '../../framework/spec';
import { nameOrIdArg, resolveArg } from '../common/crud';
import { operationKind } from '../common/kinds';
import { followOperation, WAIT_OPTIONS } from '../common/mutation';
import { printObject } from '../common/output';

export const operationWait: CommandSpec = {
  path: ['operation', 'wait'],
  summary: 'follow an operation until it ends (exit 5 if it failed or was cancelled)',
  args: [nameOrIdArg(operationKind)],
  options: WAIT_OPTIONS.filter((o) => o.flags.startsWith('--timeout')),
  async run(ctx) {
    const { client, object } = await resolveArg(ctx, operationKind, ctx.args[0]);
    const final = await followOperation(ctx, client, object);
    printObject(ctx, final);
    return 0;
  },
};
