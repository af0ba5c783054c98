import { describe, expect, it } from 'vitest';
import { RENEW_WHEN_REMAINING_FRACTION, renewalDue } from '../../src/pki/renewal';

describe('renewalDue', () => {
  const issued = new Date('2026-01-01T00:00:00Z');
  const notAfter = new Date('2026-01-31T00:00:00Z'); // 30 days

  it('is due once less than a third of the lifetime remains, measured from the issue time', () => {
    expect(RENEW_WHEN_REMAINING_FRACTION).toBeCloseTo(1 / 3);
    const day = 86_400_000;
    expect(renewalDue(issued, notAfter, notAfter.getTime() - 11 * day)).toBe(false);
    expect(renewalDue(issued, notAfter, notAfter.getTime() - 9 * day)).toBe(true);
    expect(renewalDue(issued, notAfter, notAfter.getTime() + day)).toBe(true);
  });
});
