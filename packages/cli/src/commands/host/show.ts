import { hostStorageAbilities } from '@vireo/client';
import { parseFormat } from '../../output/format';
import { renderFields } from '../../output/table';
import { resolveArg, showCommand } from '../common/crud';
import { hostKind } from '../common/kinds';
import { printObject } from '../common/output';
import { nfsAccessText, sealingText } from './storage';

const base = showCommand(hostKind);

/**
 * `host show NAME|ID`: the host's fields and, in the table format, two lines that say how it reaches
 * nfs domains and whether it can seal templates — the raw `capabilities.storage.*` fields are lost
 * among hundreds of capability lines. `-o json|yaml` print the object alone, as before.
 */
export const hostShow: typeof base = {
  ...base,
  async run(ctx) {
    const { object: host } = await resolveArg(ctx, hostKind, ctx.args[0]);
    printObject(ctx, host);
    if (parseFormat(ctx.opts.output) === 'table') {
      const storage = hostStorageAbilities(host);
      ctx.session.io.stdout.write(
        `\n${renderFields(
          { 'NFS access:': nfsAccessText(storage.nfs), 'Template sealing:': sealingText(storage.seal) },
          ctx.session.width,
        )}`,
      );
    }
    return 0;
  },
};
