import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { CDROM_DEVICE_ID, diskNodeNames, nicNames } from '../../src/qemu/argv/index';
import { loadGoldenCases } from './cases';
import { launchGolden, removeDir } from './launchable';

/**
 * Every golden argv must be one QEMU accepts: each case is launched for real (paused, TCG; KVM-only
 * bits swapped for their TCG equivalents, paths moved to scratch files) and inspected over QMP.
 * About 0.1–0.3 s per case.
 */
describe('golden argv against real QEMU', () => {
  for (const c of loadGoldenCases()) {
    it(c.name, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'vireo-argv-'));
      onTestFinished(() => removeDir(dir));
      const vm = await launchGolden(c.plan, dir);
      try {
        const { spec } = vm.plan;
        const status = await vm.qmp.execute('query-status');
        expect(status.status).toBe(vm.plan.incoming ? 'inmigrate' : 'prelaunch');

        const blocks = await vm.qmp.execute('query-block');
        for (const disk of spec.disks) {
          const names = diskNodeNames(disk.id);
          const block = blocks.find((b) => b.inserted?.['node-name'] === names.format);
          expect(block, `disk ${disk.id} attached`).toBeDefined();
          expect(block?.qdev).toContain(names.device);
          expect(block?.inserted?.drv).toBe(disk.format);
          expect(block?.inserted?.ro).toBe(disk.readonly);
          expect(block?.inserted?.encrypted).toBe(disk.encryption_secret_id !== undefined);
          // An explicit chain: QEMU has every layer open, each with its own key.
          const chain = vm.plan.diskChains?.[disk.id];
          if (chain) {
            const layers: { filename: string; encrypted?: boolean }[] = [];
            for (let img = block?.inserted?.image; img; img = img['backing-image']) layers.push(img);
            expect(layers).toHaveLength(chain.length);
            chain.forEach((layer, i) => {
              expect(layers[i]?.filename).toContain(layer.path);
              expect(layers[i]?.encrypted ?? false).toBe(layer.secretId !== undefined);
            });
          }
        }
        if (spec.cdrom) {
          const cd = blocks.find((b) => b.qdev?.includes(CDROM_DEVICE_ID));
          expect(cd?.removable).toBe(true);
          expect(cd?.inserted !== undefined).toBe(spec.cdrom.path !== null);
        }

        for (const nic of spec.nics) {
          const mac = await vm.qmp.executeUntyped('qom-get', {
            path: `/machine/peripheral/${nicNames(nic.id).device}`,
            property: 'mac',
          });
          expect(mac).toBe(nic.mac.toLowerCase());
        }

        const vnc = await vm.qmp.execute('query-vnc');
        expect(vnc.enabled).toBe(spec.display.vnc);
        if (vm.plan.vnc) {
          expect(vnc).toMatchObject({
            host: '127.0.0.1',
            service: String(5900 + vm.plan.vnc.display),
            auth: 'vnc',
          });
        }

        const cpus = await vm.qmp.execute('query-cpus-fast');
        expect(cpus).toHaveLength(spec.cpu.sockets * spec.cpu.cores * spec.cpu.threads);
      } finally {
        await vm.cleanup();
      }
    });
  }
});
