import type { VmAction } from '@vireo/api';
import type { CommandSpec } from '../../framework/spec';
import { nameOrIdArg, resolveArg } from '../common/crud';
import { vmKind } from '../common/kinds';
import { finishMutation, WAIT_OPTIONS } from '../common/mutation';

/** `vm <action> NAME|ID [--wait]`: a power action, answered by the engine as an Operation. */
export function vmActionCommand(action: VmAction, summary: string): CommandSpec {
  return {
    path: ['vm', action],
    summary,
    args: [nameOrIdArg(vmKind)],
    options: WAIT_OPTIONS,
    async run(ctx) {
      const { client, object } = await resolveArg(ctx, vmKind, ctx.args[0]);
      const result = await vmKind.api(client).action(object.id, action, undefined, {
        signal: ctx.session.signal,
      });
      return finishMutation(ctx, client, result, {
        done: `${action}: VM ${object.name} done`,
        afterSuccess: () => vmKind.api(client).get(object.id, ctx.session.signal),
      });
    },
  };
}
