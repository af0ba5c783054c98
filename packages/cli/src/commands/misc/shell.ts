import type { Registry } from '../../framework/program';
import type { CommandSpec } from '../../framework/spec';
import { runShell } from '../../shell/repl';

export function shellCommand(registry: () => Registry): CommandSpec {
  return {
    path: ['shell'],
    summary: 'interactive shell (or run a script with -f, or commands from standard input)',
    notInShell: true,
    options: [
      {
        flags: '-f, --file <script>',
        description: 'run the commands in this file',
        complete: { kind: 'files' },
      },
      {
        flags: '--continue-on-error',
        description: 'keep going after a failing command (exit status: the first failure)',
      },
    ],
    run(ctx) {
      return runShell(ctx.session, registry(), {
        file: ctx.opts.file as string | undefined,
        continueOnError: ctx.opts.continueOnError === true,
        profile: ctx.opts.profile as string | undefined,
      });
    },
  };
}
