import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildQemuArgv } from '../../src/qemu/argv/index';
import { loadGoldenCases } from './cases';

// UPDATE_GOLDEN=1 rewrites the .argv files from the current builder; review the diff before committing.
const update = process.env.UPDATE_GOLDEN === '1';
const cases = loadGoldenCases();

describe('spec → argv golden files', () => {
  it('has the coverage the golden set promises', () => {
    expect(cases.length).toBeGreaterThanOrEqual(15);
    const machines = new Set(cases.map((c) => c.plan.spec.machine));
    const accels = new Set(cases.map((c) => c.plan.accel));
    expect([...machines].sort()).toEqual(['pc', 'q35']);
    expect([...accels].sort()).toEqual(['kvm', 'tcg']);
  });

  for (const c of cases) {
    it(c.name, () => {
      const text = `${buildQemuArgv(c.plan).join('\n')}\n`;
      if (update) writeFileSync(c.argvFile, text);
      expect(existsSync(c.argvFile), `${c.argvFile} missing: run with UPDATE_GOLDEN=1`).toBe(true);
      expect(text).toBe(readFileSync(c.argvFile, 'utf8'));
    });
  }
});
