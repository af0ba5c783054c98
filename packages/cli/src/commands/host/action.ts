import type { CommandSpec } from '../../framework/spec';
import { nameOrIdArg, resolveArg } from '../common/crud';
import { hostKind } from '../common/kinds';
import { finishMutation, WAIT_OPTIONS } from '../common/mutation';

/** `host <action> NAME|ID [--wait]` for `maintenance` and `activate`. */
export function hostActionCommand(action: 'maintenance' | 'activate', summary: string): CommandSpec {
  return {
    path: ['host', action],
    summary,
    args: [nameOrIdArg(hostKind)],
    options: WAIT_OPTIONS,
    async run(ctx) {
      const { client, object } = await resolveArg(ctx, hostKind, ctx.args[0]);
      const result = await hostKind.api(client).action(object.id, action, undefined, {
        signal: ctx.session.signal,
      });
      return finishMutation(ctx, client, result, {
        done: `${action}: host ${object.name} done`,
        afterSuccess: () => hostKind.api(client).get(object.id, ctx.session.signal),
      });
    },
  };
}
