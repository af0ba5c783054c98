import { complete } from '../../completion/engine';
import { bashScript, zshScript } from '../../completion/scripts';
import { sessionSources } from '../../completion/sources';
import type { Registry } from '../../framework/program';
import type { CommandSpec } from '../../framework/spec';

export const completion: CommandSpec = {
  path: ['completion'],
  summary: 'print a shell completion script (bash or zsh)',
  args: [
    {
      name: 'shell',
      description: 'bash or zsh',
      required: true,
      complete: { kind: 'values', values: ['bash', 'zsh'] },
    },
  ],
  notInShell: true,
  async run(ctx) {
    const shell = String(ctx.args[0]);
    if (shell === 'bash') ctx.session.io.stdout.write(bashScript());
    else if (shell === 'zsh') ctx.session.io.stdout.write(zshScript());
    else {
      ctx.session.info(`Error [usage_error]: unknown shell ${JSON.stringify(shell)} (use bash or zsh)`);
      return 2;
    }
    return 0;
  },
};

/** `vireo __complete -- WORDS… CURRENT`: the candidates, one per line (used by the scripts). */
export function completeCommand(registry: () => Registry): CommandSpec {
  return {
    path: ['__complete'],
    summary: 'print completion candidates (used by the completion scripts)',
    hidden: true,
    notInShell: true,
    args: [{ name: 'words', description: 'the command line after the program name', variadic: true }],
    async run(ctx) {
      const words = [...((ctx.args[0] as string[] | undefined) ?? [])];
      const current = words.pop() ?? '';
      const out = await complete(words, current, registry(), sessionSources(ctx.session), false);
      if (out.length > 0) ctx.session.io.stdout.write(`${out.join('\n')}\n`);
      return 0;
    },
  };
}
