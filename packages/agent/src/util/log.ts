import pino, { type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * The agent's root logger: JSON lines on stderr (stdout is reserved for command output). Secrets
 * are never passed to it; the redaction list is a second line of defence for fields that could
 * carry one by mistake.
 */
export function createRootLogger(level = process.env.VIREO_AGENT_LOG_LEVEL ?? 'info'): Logger {
  return pino(
    {
      name: 'vireo-agent',
      level,
      redact: {
        paths: ['password', '*.password', 'params.password', 'params.console.password'],
        censor: '[secret]',
      },
    },
    pino.destination({ fd: 2, sync: false }),
  );
}

/** A logger that drops everything (tests, benchmarks). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
