import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  parseCpuInfo,
  parseCpuList,
  parseLoadavg,
  parseMeminfo,
  parseOsRelease,
  parseProcStat,
  parseUptime,
} from './procfs';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');

describe('parseCpuInfo', () => {
  it('reads a 2-socket, 2-core, 2-thread Xeon', () => {
    const cpu = parseCpuInfo(fixture('cpuinfo-xeon-2s2c2t.txt'));
    expect(cpu).toMatchObject({
      model: 'Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz',
      vendor: 'GenuineIntel',
      sockets: 2,
      cores_per_socket: 2,
      threads_per_core: 2,
      logical_cpus: 8,
      mhz: 2100,
    });
    expect(cpu.flags).toContain('vmx');
    expect(cpu.flags).not.toContain('');
  });

  it('reads a 2-vCPU AMD virtual machine (one socket, no SMT)', () => {
    const cpu = parseCpuInfo(fixture('cpuinfo-amd-epyc-2cpu.txt'));
    expect(cpu).toMatchObject({
      vendor: 'AuthenticAMD',
      sockets: 1,
      cores_per_socket: 2,
      threads_per_core: 1,
      logical_cpus: 2,
    });
    expect(cpu.flags).toContain('hypervisor');
    expect(cpu.flags).not.toContain('svm');
  });

  it('copes with a cpuinfo that lacks topology fields', () => {
    const text = [
      'processor\t: 0\nvendor_id\t: X\nflags\t\t: a b',
      'processor\t: 1\nvendor_id\t: X\nflags\t\t: a b',
    ].join('\n\n');
    expect(parseCpuInfo(text)).toMatchObject({
      model: 'unknown',
      sockets: 1,
      cores_per_socket: 2,
      threads_per_core: 1,
      logical_cpus: 2,
      mhz: null,
      flags: ['a', 'b'],
    });
  });
});

describe('parseMeminfo', () => {
  it('turns kB into bytes and keeps unitless counters as they are', () => {
    const sizes = parseMeminfo(`${fixture('meminfo.txt')}\nHugePages_Total:       7\n`);
    expect(sizes.get('MemTotal')).toBe(24684092 * 1024);
    expect(sizes.get('Active(anon)')).toBeGreaterThan(0);
    expect(sizes.get('HugePages_Total')).toBe(7);
  });

  it('reads a NUMA node meminfo', () => {
    expect(parseMeminfo('Node 0 MemTotal:        7170260 kB\nNode 0 MemFree:  1 kB\n').get('MemTotal')).toBe(
      7170260 * 1024,
    );
  });
});

describe('parseProcStat', () => {
  it('reads the aggregate line and counts CPUs, leaving guest time out', () => {
    const { total, cpus } = parseProcStat(fixture('proc-stat.txt'));
    expect(cpus).toBe(2);
    expect(total).toEqual({
      user: 166444,
      nice: 120,
      system: 52651,
      idle: 259822,
      iowait: 1135,
      irq: 10,
      softirq: 2602,
      steal: 98,
    });
  });

  it('rejects a file without the cpu line', () => {
    expect(() => parseProcStat('intr 1 2 3\n')).toThrow(/no aggregate/);
  });
});

describe('small /proc files', () => {
  it('parses loadavg and uptime', () => {
    expect(parseLoadavg('3.40 4.33 3.89 2/214 7398\n')).toEqual({ one: 3.4, five: 4.33, fifteen: 3.89 });
    expect(parseUptime('2429.01 2598.22\n')).toBe(2429.01);
    expect(() => parseLoadavg('garbage')).toThrow();
    expect(() => parseUptime('-1 0')).toThrow();
  });
});

describe('parseOsRelease', () => {
  it('unquotes values', () => {
    expect(parseOsRelease(fixture('os-release.txt'))).toEqual({
      id: 'debian',
      version_id: '12',
      pretty_name: 'Debian GNU/Linux 12 (bookworm)',
    });
  });

  it('handles single quotes, escapes and missing fields', () => {
    expect(parseOsRelease(`ID=arch\nNAME='Arch Linux'\n# comment\nBAD LINE\n`)).toEqual({
      id: 'arch',
      version_id: '',
      pretty_name: 'Arch Linux',
    });
    expect(parseOsRelease('ID=x\nPRETTY_NAME="say \\"hi\\""\n').pretty_name).toBe('say "hi"');
  });
});

describe('parseCpuList', () => {
  it('expands ranges', () => {
    expect(parseCpuList('0-3,8,10-11\n')).toEqual([0, 1, 2, 3, 8, 10, 11]);
    expect(parseCpuList('\n')).toEqual([]);
  });

  it('rejects malformed and absurd lists', () => {
    expect(() => parseCpuList('0-x')).toThrow(/bad CPU list/);
    expect(() => parseCpuList('5-2')).toThrow(/bad CPU range/);
    expect(() => parseCpuList('0-99999999')).toThrow(/bad CPU range/);
  });
});
