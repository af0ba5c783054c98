import { readFileSync } from 'node:fs';
import { CliError, ExitCode, usageError } from '../../framework/errors';
import type { CommandSpec } from '../../framework/spec';
import { readAllStdin } from '../../io/prompt';
import { createObject } from '../common/create';
import { clusterKind, hostKind } from '../common/kinds';
import { WAIT_OPTIONS } from '../common/mutation';

/**
 * `host add`: the engine logs in over SSH, installs the agent and enrolls the host (ADR 015).
 * The SSH secret comes from stdin or a file, never from the command line.
 */
export const hostAdd: CommandSpec = {
  path: ['host', 'add'],
  aliases: ['create'],
  summary: 'add a host: the engine installs the agent over SSH',
  args: [{ name: 'name', description: 'name of the new host', required: true }],
  options: [
    { flags: '--address <address>', description: 'DNS name or IP the engine reaches the host on (required)' },
    {
      flags: '--cluster <name|id>',
      description: 'cluster the host joins (required)',
      complete: { kind: 'resource', resource: 'cluster' },
    },
    { flags: '--ssh-user <user>', description: 'SSH login (required)' },
    { flags: '--ssh-port <port>', description: 'SSH port (default 22)' },
    { flags: '--ssh-password-stdin', description: 'read the SSH password from standard input' },
    {
      flags: '--ssh-key <file>',
      description: 'SSH private key file (PEM or OpenSSH)',
      complete: { kind: 'files' },
    },
    {
      flags: '--ssh-host-key <sha256>',
      description: 'expected host key, as `ssh-keygen -lf` prints it (SHA256:…)',
    },
    { flags: '--engine-url <url>', description: 'the engine as the host reaches it (https://…)' },
    ...WAIT_OPTIONS,
  ],
  async run(ctx) {
    for (const flag of ['address', 'cluster', 'sshUser'] as const) {
      if (ctx.opts[flag] === undefined) {
        throw usageError(`--${flag === 'sshUser' ? 'ssh-user' : flag} is required`);
      }
    }
    if (Boolean(ctx.opts.sshPasswordStdin) === (ctx.opts.sshKey !== undefined)) {
      throw usageError('give exactly one of --ssh-password-stdin and --ssh-key');
    }
    const ssh: Record<string, unknown> = { user: String(ctx.opts.sshUser) };
    if (ctx.opts.sshPort !== undefined) {
      const port = Number(ctx.opts.sshPort);
      if (!Number.isInteger(port) || port < 1 || port > 65535) {
        throw usageError(`--ssh-port must be a TCP port, not ${JSON.stringify(ctx.opts.sshPort)}`);
      }
      ssh.port = port;
    }
    if (ctx.opts.sshHostKey !== undefined) ssh.host_key_sha256 = String(ctx.opts.sshHostKey);
    if (ctx.opts.sshPasswordStdin) {
      if (ctx.session.inShell) throw usageError('--ssh-password-stdin cannot be used inside the shell');
      ssh.password = await readAllStdin(ctx.session.io.stdin);
      if (ssh.password === '') throw usageError('standard input held no SSH password');
    } else {
      try {
        ssh.private_key = readFileSync(String(ctx.opts.sshKey), 'utf8');
      } catch (err) {
        throw new CliError(
          'file_unreadable',
          `cannot read --ssh-key: ${(err as Error).message}`,
          ExitCode.usage,
          {
            cause: err,
          },
        );
      }
    }
    const { client } = await ctx.session.connect(ctx.opts.profile);
    const cluster = await clusterKind.api(client).resolve(String(ctx.opts.cluster), {}, ctx.session.signal);
    const body: Record<string, unknown> = {
      name: ctx.args[0],
      address: String(ctx.opts.address),
      cluster_id: cluster.id,
      ssh,
    };
    if (ctx.opts.engineUrl !== undefined) body.engine_url = String(ctx.opts.engineUrl);
    return createObject(ctx, hostKind, body);
  },
};
