import { describe, expect, it } from 'vitest';
import { argAfter, isQemuBinary, isRunningState, parseProcStat } from './proc';

describe('/proc parsing', () => {
  it('reads fields after a command name holding spaces and parentheses', () => {
    // Fields: pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
    // utime stime cutime cstime priority nice threads itrealvalue starttime …
    const line = '4242 (qemu (x) y) S 1 4242 4242 0 -1 4194624 100 0 0 0 250 50 0 0 20 0 5 0 98765 123 456\n';
    expect(parseProcStat(4242, line)).toEqual({
      pid: 4242,
      comm: 'qemu (x) y',
      state: 'S',
      ppid: 1,
      utimeTicks: 250,
      stimeTicks: 50,
      startTicks: 98765,
    });
  });

  it('treats zombies and dead processes as not running', () => {
    const stat = (state: string) =>
      parseProcStat(1, `1 (qemu) ${state} 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0`);
    expect(isRunningState(stat('S'))).toBe(true);
    expect(isRunningState(stat('Z'))).toBe(false);
    expect(isRunningState(stat('X'))).toBe(false);
    expect(isRunningState(undefined)).toBe(false);
  });

  it('recognises QEMU binaries and reads option values', () => {
    expect(isQemuBinary('/usr/bin/qemu-system-x86_64')).toBe(true);
    expect(isQemuBinary('qemu-img')).toBe(false);
    expect(isQemuBinary('/tmp/qemu-system-x86_64-but/evil')).toBe(false);
    expect(argAfter(['qemu-system-x86_64', '-name', 'guest=a', '-uuid', 'U'], '-uuid')).toBe('U');
    expect(argAfter(['qemu-system-x86_64'], '-uuid')).toBeUndefined();
  });
});
