import { REGISTRY } from './commands/index';
import { ConfigStore, defaultConfigDir } from './config/store';
import { describeError, ExitCode } from './framework/errors';
import { runArgv } from './framework/program';
import { Session } from './framework/session';

/**
 * `vireo` entry point: one command per process. Ctrl-C aborts the running request or wait (the
 * command reports what goes on in the engine); a second Ctrl-C exits at once.
 */
async function main(): Promise<number> {
  const session = new Session({
    io: { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr },
    store: new ConfigStore(defaultConfigDir()),
  });
  const controller = new AbortController();
  session.signal = controller.signal;
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts > 1) process.exit(ExitCode.interrupted);
    controller.abort();
  };
  // The shell reads Ctrl-C itself (raw terminal); elsewhere it arrives as a signal.
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  try {
    return await runArgv(process.argv.slice(2), session, REGISTRY);
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
    await session.close();
  }
}

// A closed pipe (`vireo … | head`) is not an error worth a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
});

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const r = describeError(err);
    process.stderr.write(`Error [${r.code}]: ${r.message}\n`);
    process.exitCode = r.exitCode;
  },
);
