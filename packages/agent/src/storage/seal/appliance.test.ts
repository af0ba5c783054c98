import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../config';
import { findSealAppliance, sealAvailability } from './appliance';

describe('where the seal appliance is', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vireo-seal-dir-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('takes the configured directory only when both files are there', () => {
    expect(findSealAppliance(dir)).toBeUndefined();
    writeFileSync(join(dir, 'vmlinuz'), 'k');
    expect(findSealAppliance(dir)).toBeUndefined();
    writeFileSync(join(dir, 'seal-appliance.initrd'), 'i');
    expect(findSealAppliance(dir)).toEqual({
      kernel: join(dir, 'vmlinuz'),
      initrd: join(dir, 'seal-appliance.initrd'),
    });
  });

  it('says whether the host can seal, and what is missing when it cannot', () => {
    const empty = mkdtempSync(join(tmpdir(), 'vireo-seal-none-'));
    try {
      expect(sealAvailability(dir)).toEqual({ available: true, reason: `seal appliance in ${dir}` });
      const none = sealAvailability(empty);
      expect(none.available).toBe(false);
      expect(none.reason).toContain(empty);
      expect(none.reason).toContain('seal-appliance.initrd');
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('is configured by seal_dir or VIREO_AGENT_SEAL_DIR (the environment wins), absent by default', () => {
    const file = join(dir, 'agent.json');
    writeFileSync(file, JSON.stringify({ seal_dir: '/opt/seal' }));
    expect(loadConfig({ config: file }, {}).sealDir).toBe('/opt/seal');
    expect(loadConfig({ config: file }, { VIREO_AGENT_SEAL_DIR: '/srv/seal' }).sealDir).toBe('/srv/seal');
    expect(loadConfig({}, {}).sealDir).toBeUndefined();
  });
});
