import { listCommand } from '../common/crud';
import { operationKind } from '../common/kinds';

export const operationList = listCommand(operationKind, {
  options: [
    {
      flags: '--state <state>',
      description: 'only operations in this state',
      choices: ['pending', 'running', 'succeeded', 'failed', 'cancelled'],
    },
  ],
  async query(ctx) {
    return ctx.opts.state === undefined ? {} : { state: String(ctx.opts.state) };
  },
});
