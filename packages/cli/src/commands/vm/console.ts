import type { ConsoleTicket } from '@vireo/client';
import WebSocket from 'ws';
import { CliError, ExitCode } from '../../framework/errors';
import type { CommandContext, CommandSpec } from '../../framework/spec';
import { nameOrIdArg, resolveArg } from '../common/crud';
import { vmKind } from '../common/kinds';
import { printObject } from '../common/output';

/** Ctrl-] — the byte that detaches from the serial console (telnet's habit). */
const DETACH = 0x1d;

/**
 * Pipes the terminal to the serial console WebSocket until the guest side closes, the user
 * detaches (Ctrl-] on a terminal), `until` shows up in the output, or Ctrl-C outside raw mode.
 * Raw mode is always undone, whatever ends the session.
 */
async function attachSerial(
  ctx: CommandContext,
  url: string,
  ca: string | undefined,
  until: string | undefined,
): Promise<number> {
  const { stdin, stdout, stderr } = ctx.session.io;
  const ws = new WebSocket(url, { ca, perMessageDeflate: false, handshakeTimeout: 15_000 });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => {
      reject(
        new CliError(
          'console_refused',
          `the engine refused the console (HTTP ${res.statusCode})`,
          ExitCode.apiError,
        ),
      );
    });
    ws.once('error', (err) =>
      reject(
        new CliError('connection_failed', `console connection failed: ${err.message}`, ExitCode.connection, {
          cause: err,
        }),
      ),
    );
  });
  const tty = Boolean(stdin.isTTY && stdin.setRawMode);
  if (tty) {
    stdin.setRawMode?.(true);
    stderr.write('Connected to the serial console; Ctrl-] detaches.\r\n');
  }
  let seen = '';
  let onInput: ((chunk: Buffer | string) => void) | undefined;
  try {
    return await new Promise<number>((resolve) => {
      onInput = (chunk: Buffer | string) => {
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        const at = tty ? bytes.indexOf(DETACH) : -1;
        if (at >= 0) {
          if (at > 0) ws.send(bytes.subarray(0, at));
          resolve(ExitCode.ok);
          return;
        }
        if (ws.readyState === WebSocket.OPEN) ws.send(bytes);
      };
      stdin.on('data', onInput);
      ws.on('message', (data: Buffer) => {
        stdout.write(data);
        if (until !== undefined) {
          // Keep only enough of the tail to find a marker split across frames.
          seen = (seen + data.toString('latin1')).slice(-(until.length + 65_536));
          if (seen.includes(until)) resolve(ExitCode.ok);
        }
      });
      ws.once('close', () => resolve(ExitCode.ok));
      ctx.session.signal.addEventListener('abort', () => resolve(ExitCode.interrupted), { once: true });
      ws.once('error', (err) => {
        stderr.write(`console connection failed: ${err.message}\n`);
        resolve(ExitCode.connection);
      });
    });
  } finally {
    if (onInput) stdin.off('data', onInput);
    if (tty) {
      stdin.setRawMode?.(false);
      stderr.write('\r\nDetached from the serial console.\n');
    }
    stdin.pause();
    ws.terminate();
  }
}

export const vmConsole: CommandSpec = {
  path: ['vm', 'console'],
  summary: 'open a console: the VNC ticket and URL, or (--serial) attach this terminal to the serial port',
  args: [nameOrIdArg(vmKind)],
  options: [
    { flags: '--serial', description: 'attach to the serial console (Ctrl-] detaches)' },
    { flags: '--until <text>', description: 'with --serial: detach once the guest prints this text' },
  ],
  async run(ctx) {
    const { client, object } = await resolveArg(ctx, vmKind, ctx.args[0]);
    const serial = Boolean(ctx.opts.serial);
    const res = await client.request<ConsoleTicket>('POST', `/vms/${encodeURIComponent(object.id)}/console`, {
      body: { type: serial ? 'serial' : 'vnc' },
      signal: ctx.session.signal,
    });
    const wsBase = client.origin.replace(/^http/, 'ws');
    const url = `${wsBase}${res.body.ws_url}`;
    if (!serial) {
      printObject(ctx, { ...res.body, url, vnc_password: res.body.ticket.slice(0, 8) });
      ctx.session.info(
        'the ticket opens one connection before it expires; VNC password = its first 8 characters',
      );
      return ExitCode.ok;
    }
    const { profile } = await ctx.session.connect(ctx.opts.profile);
    return attachSerial(ctx, url, profile.caPem, ctx.opts.until as string | undefined);
  },
};
