import { VireoClient } from '@vireo/client';
import { type ConfigStore, checkProfileName, type LoadedProfile } from '../config/store';
import { NoPrompter, type Prompter, TerminalPrompter } from '../io/prompt';
import { CliError, ExitCode } from './errors';

export type OutStream = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
export type InStream = NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };

export interface Io {
  stdin: InStream;
  stdout: OutStream;
  stderr: OutStream;
}

/** The CLI version, replaced at bundle time when a define is given. */
export const CLI_VERSION = '0.1.0';

/**
 * State that outlives one command: streams, the config store, the prompter and open clients. A
 * one-shot `vireo …` has one command per session; `vireo shell` runs many in one session.
 */
export class Session {
  readonly io: Io;
  readonly store: ConfigStore;
  readonly env: NodeJS.ProcessEnv;
  /** True inside `vireo shell`: shell-only commands (connect, exit) are offered, shell and completion are not. */
  inShell: boolean;
  prompter: Prompter;
  /** Profile chosen with `connect` inside the shell. */
  shellProfile: string | undefined;
  /** Set by the shell's `disconnect`: commands that need the engine fail until `connect`. */
  disconnected = false;
  /** Set by the shell's `exit`: the loop ends with this status. */
  exitRequested: number | undefined;
  /** Aborted on Ctrl-C while a command runs. */
  signal: AbortSignal = new AbortController().signal;
  readonly #clients = new Map<string, VireoClient>();

  constructor(options: {
    io: Io;
    store: ConfigStore;
    env?: NodeJS.ProcessEnv;
    inShell?: boolean;
    prompter?: Prompter;
  }) {
    this.io = options.io;
    this.store = options.store;
    this.env = options.env ?? process.env;
    this.inShell = options.inShell ?? false;
    this.prompter = options.prompter ?? new TerminalPrompter(this.io.stdin, this.io.stderr);
  }

  /** Which profile a command uses: --profile, then the shell's `connect`, VIREO_PROFILE, the current one. */
  profileName(explicit?: unknown): string {
    const name =
      (typeof explicit === 'string' && explicit) ||
      this.shellProfile ||
      this.env.VIREO_PROFILE ||
      this.store.current() ||
      'default';
    return checkProfileName(name);
  }

  /** The profile and a client logged in with its token; fails with exit 4 when not logged in. */
  async connect(explicitProfile?: unknown): Promise<{ client: VireoClient; profile: LoadedProfile }> {
    if (this.disconnected) {
      throw new CliError(
        'not_connected',
        'not connected; use: connect URL (or connect --profile NAME)',
        ExitCode.auth,
      );
    }
    const name = this.profileName(explicitProfile);
    const profile = this.store.load(name);
    if (!profile) {
      throw new CliError(
        'not_logged_in',
        `no profile ${JSON.stringify(name)}; log in first with: vireo login URL${name === 'default' ? '' : ` --profile ${name}`}`,
        ExitCode.auth,
      );
    }
    if (!profile.token) {
      throw new CliError(
        'not_logged_in',
        `profile ${JSON.stringify(name)} is logged out; log in with: vireo login ${profile.url}`,
        ExitCode.auth,
      );
    }
    let client = this.#clients.get(name);
    if (!client || client.token !== profile.token) {
      await client?.close();
      client = new VireoClient({
        baseUrl: profile.url,
        token: profile.token,
        ca: profile.caPem,
        userAgent: `vireo-cli/${CLI_VERSION}`,
      });
      this.#clients.set(name, client);
    }
    return { client, profile };
  }

  /** Drops the cached client of a profile (after login/logout). */
  async forget(name: string): Promise<void> {
    const c = this.#clients.get(name);
    this.#clients.delete(name);
    await c?.close();
  }

  async close(): Promise<void> {
    for (const name of [...this.#clients.keys()]) await this.forget(name);
  }

  /** Width to fit tables into, or undefined when stdout is not a terminal (never truncate). */
  get width(): number | undefined {
    if (!this.io.stdout.isTTY) return undefined;
    return this.io.stdout.columns && this.io.stdout.columns > 20 ? this.io.stdout.columns : 80;
  }

  /** Writes to stdout (data). */
  print(text: string): void {
    this.io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  /** Writes to stderr (messages for the person, never data). */
  info(text: string): void {
    this.io.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  /** Prompter for scripts: every question fails. */
  static scriptPrompter(): Prompter {
    return new NoPrompter();
  }
}
