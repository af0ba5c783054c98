import { describe, expect, it } from 'vitest';
import en from '../../i18n/en.vms.json';
import zh from '../../i18n/zh-CN.vms.json';
import { emptyVmForm, toSubmission } from './vmForm';

describe('create-VM wizard: the console choice', () => {
  it('a new form is VNC and sends no console (the engine default); headless sends console "serial"', () => {
    const base = { ...emptyVmForm('c1'), name: 'h1' };
    expect(base.console).toBe('vnc');
    expect(toSubmission(base).body).not.toHaveProperty('console');
    expect(toSubmission({ ...base, console: 'serial' }).body).toMatchObject({
      name: 'h1',
      cluster_id: 'c1',
      console: 'serial',
    });
  });

  it('a template clone takes the template hardware: no console in its body', () => {
    const f = {
      ...emptyVmForm('c1'),
      name: 't1',
      source: 'template' as const,
      template_id: 'tp1',
      console: 'serial' as const,
    };
    expect(toSubmission(f)).toEqual({ path: '/templates/tp1/vms', body: { name: 't1', clone: 'thin' } });
  });

  it('every console label and the headless tooltip exist in English and Chinese', () => {
    for (const key of [
      'vmx.field.console',
      'vmx.console.vnc',
      'vmx.console.serial',
      'vmx.console.headless',
    ]) {
      expect((en as Record<string, string>)[key], key).toBeTruthy();
      expect((zh as Record<string, string>)[key], key).toBeTruthy();
      expect((zh as Record<string, string>)[key]).not.toBe((en as Record<string, string>)[key]);
    }
  });
});
