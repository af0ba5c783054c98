import type { CommandSpec } from '../../framework/spec';
import { resolveArg } from '../common/crud';
import { datacenterKind } from '../common/kinds';
import { finishMutation, WAIT_OPTIONS } from '../common/mutation';
import { domainArg, storageDomainKind } from './kind';

type Action = 'attach' | 'detach' | 'activate' | 'maintenance';

function actionCommand(action: Action, summary: string, withDatacenter = false): CommandSpec {
  return {
    path: ['storage-domain', action],
    summary,
    args: withDatacenter
      ? [domainArg, { name: 'datacenter', description: 'the data center (name or id)', required: true }]
      : [domainArg],
    options: WAIT_OPTIONS,
    async run(ctx) {
      const { client, object } = await resolveArg(ctx, storageDomainKind, ctx.args[0]);
      let body: Record<string, unknown> | undefined;
      if (withDatacenter) {
        const dc = await datacenterKind.api(client).resolve(String(ctx.args[1]), {}, ctx.session.signal);
        body = { datacenter_id: dc.id };
      }
      const result = await storageDomainKind.api(client).action(object.id, action, body, {
        signal: ctx.session.signal,
      });
      return finishMutation(ctx, client, result, {
        done: `${action}: storage domain ${object.name} done`,
        afterSuccess: () => storageDomainKind.api(client).get(object.id, ctx.session.signal),
      });
    },
  };
}

export const storageDomainAttach = actionCommand(
  'attach',
  'attach a storage domain to a data center (writes its metadata; ends in maintenance)',
  true,
);
export const storageDomainActivate = actionCommand(
  'activate',
  'activate a storage domain on the hosts of its data center',
);
export const storageDomainMaintenance = actionCommand(
  'maintenance',
  'deactivate a storage domain on every host',
);
export const storageDomainDetach = actionCommand(
  'detach',
  'detach a storage domain in maintenance from its data center',
);
