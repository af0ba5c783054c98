import type { CommandSpec } from '../../framework/spec';
import { nameOrIdArg, resolveArg } from '../common/crud';
import { operationKind } from '../common/kinds';
import { printObject } from '../common/output';

export const operationCancel: CommandSpec = {
  path: ['operation', 'cancel'],
  summary: 'ask the engine to cancel an operation',
  args: [nameOrIdArg(operationKind)],
  async run(ctx) {
    const { client, object } = await resolveArg(ctx, operationKind, ctx.args[0]);
    const op = await client.operations.cancel(object.id, ctx.session.signal);
    printObject(ctx, op);
    ctx.session.info(`cancellation of operation ${op.id} requested (state: ${op.state})`);
    return 0;
  },
};
