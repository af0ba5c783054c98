// `vireo shell` and the interactive login, driven through a real terminal (tmux), plus scripts
// run with -f and from stdin. Called from cli.test.ts so these share its engine and login.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { EngineProcess } from '../support/engine';
import { CLI_ARGV, cliEnv, REPO, runCli } from './support/cli';
import { Tmux } from './support/tmux';

export interface SuiteContext {
  engine(): EngineProcess;
  home(): string;
  fingerprint(): string;
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The shell command line that runs the CLI with a given config home. */
function cliCommand(home: string, args: string[]): string {
  return ['env', `XDG_CONFIG_HOME=${home}`, ...CLI_ARGV, ...args].map(quote).join(' ');
}

export function defineShellTests(ctx: SuiteContext): void {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });

  function tmux(): Tmux {
    const dir = mkdtempSync(join(tmpdir(), 'vireo-tmux-'));
    const t = new Tmux(join(dir, 'tmux.sock'));
    cleanups.push(() => {
      t.kill();
      rmSync(dir, { recursive: true, force: true });
    });
    return t;
  }

  describe('interactive terminal', () => {
    it('login asks to trust the CA by fingerprint and reads the password without echo', async () => {
      const home = mkdtempSync(join(tmpdir(), 'vireo-cli-tty-'));
      cleanups.push(() => rmSync(home, { recursive: true, force: true }));
      const t = tmux();
      t.start(cliCommand(home, ['login', ctx.engine().url]), REPO);
      const prompt = await t.waitFor('Trust this CA for this engine? [y/N]');
      expect(prompt).toContain(`SHA-256 fingerprint: ${ctx.fingerprint()}`);
      t.type('y');
      t.press('Enter');
      await t.waitFor('Username: ');
      t.type('admin@internal');
      t.press('Enter');
      await t.waitFor('Password for admin@internal: ');
      t.typeSecret(ctx.engine().adminPassword!);
      t.press('Enter');
      const done = await t.waitFor('Logged in to');
      expect(done).not.toContain(ctx.engine().adminPassword!);
      await expect.poll(() => t.exitStatus(), { timeout: 10_000 }).toBeDefined();
      expect(t.exitStatus(), t.screen()).toBe(0);
      expect(statSync(join(home, 'vireo/profiles/default/token')).mode & 0o777).toBe(0o600);
    });

    it('completes a data-center name fetched live with Tab and keeps history', async () => {
      expect((await runCli(['datacenter', 'create', 'tabdc-alpha'], ctx.home())).code).toBe(0);
      const t = tmux();
      t.start(cliCommand(ctx.home(), ['shell']), REPO);
      await t.waitFor('vireo [default]> ');
      t.type('datacenter show tabd');
      t.press('Tab');
      await t.waitFor('vireo [default]> datacenter show tabdc-alpha');
      t.press('Enter');
      await t.waitFor(/^name\s+tabdc-alpha$/m);
      t.type('dc list --outp');
      t.press('Tab');
      await t.waitFor('dc list --output');
      t.type('y');
      t.press('Tab');
      await t.waitFor('dc list --output yaml');
      t.press('Enter');
      await t.waitFor(/^- id: .*\n {2}name: Default$/m);
      // Progress of --wait is a bar redrawn in place on a terminal.
      const before = new Date(Date.now() - 3 * 24 * 3600 * 1000).toISOString();
      t.type(`event purge --before ${before} --wait`);
      t.press('Enter');
      await t.waitFor(/\[#{24}\] 100% succeeded events\.purge [0-9a-f-]{36}\n/);
      // Ctrl-C ends a running command (here the live event stream), not the shell.
      t.type('events --follow --kind datacenter.');
      t.press('Enter');
      await t.waitFor('following events; press Ctrl-C to stop');
      t.press('C-c');
      await t.waitFor(/press Ctrl-C to stop\n(.*\n)?vireo \[default\]> $/m);
      // disconnect/connect: commands fail until the shell is connected again.
      t.type('disconnect');
      t.press('Enter');
      await t.waitFor('vireo (disconnected)> ');
      t.type('dc list');
      t.press('Enter');
      await t.waitFor(/^Error \[not_connected\]: /m);
      t.type('connect --profile default');
      t.press('Enter');
      await t.waitFor(
        /connected to https:\/\/127\.0\.0\.1:\d+ as admin@internal \(profile default\)\nvireo \[default\]> $/m,
      );
      t.type('exit');
      t.press('Enter');
      await expect.poll(() => t.exitStatus(), { timeout: 10_000 }).toBeDefined();
      expect(t.exitStatus(), t.screen()).toBe(0);
      const historyFile = join(ctx.home(), 'vireo/history');
      expect(readFileSync(historyFile, 'utf8')).toContain('datacenter show tabdc-alpha\n');
      expect(statSync(historyFile).mode & 0o777).toBe(0o600);
    });
  });

  it('bash completion script completes names through vireo __complete', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vireo-bash-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    // A `vireo` on PATH, as the script expects, running the CLI from source.
    writeFileSync(join(dir, 'vireo'), `#!/bin/sh\nexec ${CLI_ARGV.map(quote).join(' ')} "$@"\n`, {
      mode: 0o755,
    });
    const script = (await runCli(['completion', 'bash'], ctx.home())).stdout;
    writeFileSync(join(dir, 'vireo.bash'), script);
    const probe = [
      `source ${quote(join(dir, 'vireo.bash'))}`,
      'COMP_WORDS=(vireo datacenter show tabdc); COMP_CWORD=3; _vireo_complete; declare -p COMPREPLY',
      'COMP_WORDS=(vireo dc list -o ""); COMP_CWORD=4; _vireo_complete; declare -p COMPREPLY',
    ].join('\n');
    const out = execFileSync('bash', ['-c', probe], {
      cwd: REPO,
      encoding: 'utf8',
      env: { ...cliEnv(ctx.home()), PATH: `${dir}:${process.env.PATH}` },
    });
    expect(out.trimEnd().split('\n')).toEqual([
      'declare -a COMPREPLY=([0]="tabdc-alpha")',
      'declare -a COMPREPLY=([0]="json" [1]="table" [2]="yaml")',
    ]);
  });

  describe('scripts', () => {
    const script = [
      '# a scripted session',
      'datacenter create script-dc --description "from a \\"script\\""',
      'cluster create script-cl \\',
      '    --datacenter script-dc',
      'cluster list --datacenter script-dc -o json   # one cluster',
      'datacenter create script-dc',
      'datacenter show script-dc -o json',
      '',
    ].join('\n');

    it('runs a script with -f and stops at the first error with its exit status', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'vireo-script-'));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      const file = join(dir, 'setup.vsh');
      writeFileSync(file, script);
      const r = await runCli(['shell', '-f', file], ctx.home());
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^Error \[datacenter_name_taken\]: /m);
      expect(r.stderr).toContain(`stopped at ${file}:6 (exit status 1)`);
      const clusters = JSON.parse(r.stdout.slice(r.stdout.indexOf('[')));
      expect(clusters).toEqual([expect.objectContaining({ name: 'script-cl' })]);
      expect(r.stdout).not.toContain('"description": "from a \\"script\\""'); // line 7 never ran

      const cont = await runCli(['shell', '--continue-on-error'], ctx.home(), {
        input: 'datacenter create script-dc\ndatacenter show script-dc -o json\n',
      });
      expect(cont.code).toBe(1);
      expect(JSON.parse(cont.stdout)).toMatchObject({ name: 'script-dc', description: 'from a "script"' });
      expect(cont.stderr).toContain('line 1 failed (exit status 1); continuing');

      const clean = await runCli(['shell'], ctx.home(), {
        input: 'cluster delete script-cl\ndc delete script-dc\n',
      });
      expect(clean.code).toBe(0);
    });

    it('reports a syntax error before running anything', async () => {
      const r = await runCli(['shell'], ctx.home(), {
        input: 'datacenter create x-never\ndatacenter show "unterminated\n',
      });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^Error \[syntax_error\]: line 2/m);
      expect((await runCli(['dc', 'show', 'x-never'], ctx.home())).code).toBe(3);
    });
  });
}
