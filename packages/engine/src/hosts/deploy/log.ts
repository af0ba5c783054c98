import type { Logger } from 'pino';

/** One line of a deploy log, as shown to the administrator through the API. */
export interface DeployLogLine {
  /** RFC 3339 time the line was written. */
  at: string;
  message: string;
}

/**
 * The deploy log: what each step did, readable by the administrator when the install fails. Every
 * line is also sent to the engine's logger. Secrets never reach it: callers do not write them, and
 * as a second guard any line containing one of the registered secrets is masked.
 */
export class DeployLog {
  readonly lines: DeployLogLine[] = [];
  private readonly secrets: string[] = [];

  constructor(private readonly logger: Logger) {}

  /** Registers a value that must never appear in the log (passwords, keys, tokens). */
  protect(secret: string | undefined): void {
    // Very short values would mask ordinary words; they are not credentials anyone should use.
    if (secret && secret.length >= 6) this.secrets.push(secret);
  }

  info(message: string): void {
    this.write(message, 'info');
  }

  warn(message: string): void {
    this.write(message, 'warn');
  }

  private write(message: string, level: 'info' | 'warn'): void {
    let text = message;
    for (const s of this.secrets) if (text.includes(s)) text = text.split(s).join('***');
    this.lines.push({ at: new Date().toISOString(), message: text });
    this.logger[level]({ step: text }, 'host deploy');
  }
}
