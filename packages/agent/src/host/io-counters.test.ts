import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isHostDisk, parseDiskstats, parseNetDev, readHostIo } from './io-counters';

const NET_DEV = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 5000 10 0 0 0 0 0 0 5000 10 0 0 0 0 0 0
  eth0: 1000 3 0 0 0 0 0 0 2000 4 0 0 0 0 0 0
  eth1:  300 3 0 0 0 0 0 0  400 4 0 0 0 0 0 0
vireobr0: 7777 1 0 0 0 0 0 0 7777 1 0 0 0 0 0 0
 vt1234: 9999 1 0 0 0 0 0 0 9999 1 0 0 0 0 0 0
`;

const DISKSTATS = `   7       0 loop0 44 0 198 14 0 0 0 0 0 16 14 0 0 0 0 0 0
 252       0 vda 100 0 2000 50 40 0 800 30 0 60 80 0 0 0 0 0 0
 252       1 vda1 90 0 1900 45 40 0 800 30 0 55 75 0 0 0 0 0 0
 253       0 dm-0 10 0 100 1 1 0 8 1 0 2 2 0 0 0 0 0 0
 252      16 vdb 1 0 8 1 2 0 16 1 0 1 1 0 0 0 0 0 0
`;

describe('host I/O counters', () => {
  const root = mkdtempSync(join(tmpdir(), 'vireo-hostio-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('parses /proc/net/dev and /proc/diskstats', () => {
    expect(parseNetDev(NET_DEV).get('eth0')).toEqual({ rx: 1000, tx: 2000 });
    expect(parseNetDev(NET_DEV).get('vireobr0')).toEqual({ rx: 7777, tx: 7777 });
    expect(parseDiskstats(DISKSTATS).get('vda')).toEqual({ readSectors: 2000, writtenSectors: 800 });
  });

  it('leaves out devices that would not be disk I/O or would count bytes twice', () => {
    expect(['vda', 'sda', 'nvme0n1', 'xvda'].every(isHostDisk)).toBe(true);
    expect(['loop0', 'ram0', 'zram0', 'dm-0', 'md0', 'sr0'].some(isHostDisk)).toBe(false);
  });

  it('sums physical NICs and whole disks', async () => {
    const proc = join(root, 'proc');
    const sys = join(root, 'sys');
    mkdirSync(join(proc, 'net'), { recursive: true });
    writeFileSync(join(proc, 'net/dev'), NET_DEV);
    writeFileSync(join(proc, 'diskstats'), DISKSTATS);
    for (const d of ['eth0/device', 'eth1/device', 'vireobr0/bridge', 'vt1234/tun_flags', 'lo']) {
      mkdirSync(join(sys, 'class/net', d), { recursive: true });
    }
    for (const b of ['vda', 'vdb', 'loop0', 'dm-0']) mkdirSync(join(sys, 'block', b), { recursive: true });
    expect(await readHostIo(proc, sys)).toEqual({
      net_rx_bytes: 1300,
      net_tx_bytes: 2400,
      disk_read_bytes: (2000 + 8) * 512,
      disk_write_bytes: (800 + 16) * 512,
    });
  });

  it('counts virtual NICs (but not bridges, taps or loopback) on a host without physical ones', async () => {
    const proc = join(root, 'proc');
    const sys = join(root, 'sys2');
    for (const d of ['eth0', 'eth1', 'vireobr0/bridge', 'vt1234/tun_flags', 'lo']) {
      mkdirSync(join(sys, 'class/net', d), { recursive: true });
    }
    mkdirSync(join(sys, 'block'), { recursive: true });
    const io = await readHostIo(proc, sys);
    expect(io).toMatchObject({ net_rx_bytes: 1300, net_tx_bytes: 2400, disk_read_bytes: 0 });
  });
});
