// Drives a program in a real pseudo-terminal through a private tmux server (its own socket in a
// temp dir), so tests see exactly what a person at a terminal sees.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export class Tmux {
  /** Where the command's exit status lands (next to the socket, in the test's temp dir). */
  readonly statusFile: string;

  constructor(
    readonly socket: string,
    readonly session = 'vireo-test',
  ) {
    this.statusFile = join(dirname(socket), 'exit-status');
  }

  private tmux(args: string[]): string {
    return execFileSync('tmux', ['-S', this.socket, ...args], { encoding: 'utf8' });
  }

  /** Starts `command` (a shell command line) in a detached 200x50 session. */
  start(command: string, cwd: string): void {
    const line = `${command}; echo $? > ${this.statusFile}.tmp && mv ${this.statusFile}.tmp ${this.statusFile}`;
    this.tmux(['new-session', '-d', '-x', '200', '-y', '50', '-s', this.session, '-c', cwd, line]);
    // Keep the pane after the program exits so its last output can still be read.
    this.tmux(['set-option', '-t', this.session, 'remain-on-exit', 'on']);
  }

  /** Types literal text (no key names interpreted). */
  type(text: string): void {
    this.tmux(['send-keys', '-t', this.session, '-l', text]);
  }

  /**
   * Types a secret through a tmux paste buffer fed on stdin, so it never appears on any
   * process's command line.
   */
  typeSecret(text: string): void {
    execFileSync('tmux', ['-S', this.socket, 'load-buffer', '-b', 'secret', '-'], { input: text });
    this.tmux(['paste-buffer', '-d', '-b', 'secret', '-t', this.session]);
  }

  /** Presses keys by tmux name: Enter, Tab, C-c… */
  press(...keys: string[]): void {
    this.tmux(['send-keys', '-t', this.session, ...keys]);
  }

  screen(): string {
    return this.tmux(['capture-pane', '-p', '-J', '-S', '-200', '-t', this.session]);
  }

  /** Waits until the screen matches; fails with the screen's content. */
  async waitFor(pattern: RegExp | string, timeoutMs = 20_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = this.screen();
      if (typeof pattern === 'string' ? s.includes(pattern) : pattern.test(s)) return s;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}; screen:\n${s}`);
      await sleep(100);
    }
  }

  /**
   * The program's exit status once it has exited, else undefined. The command line itself records
   * it in a file: tmux's own `pane_dead_status` sometimes never arrives when the pane's pty closes
   * before tmux reaps the process.
   */
  exitStatus(): number | undefined {
    try {
      const text = readFileSync(this.statusFile, 'utf8').trim();
      return text === '' ? undefined : Number(text);
    } catch {
      return undefined;
    }
  }

  /** Kills this test's tmux server (and with it the program), never any other. */
  kill(): void {
    try {
      this.tmux(['kill-server']);
    } catch {
      // already gone
    }
  }
}
