// @vitest-environment jsdom
import { describe, expect, it } from 'vitest';
import { safeNext } from './LoginPage';

describe('safeNext (where the login returns to)', () => {
  it.each([
    ['?next=%2Fvms%2F1%3Ftab%3Ddisks', '/vms/1?tab=disks'],
    ['?next=%2Fhosts', '/hosts'],
    ['', '/'],
    // Never off the portal: another origin, a protocol-relative URL, or back to the login itself.
    ['?next=https%3A%2F%2Fevil.example%2F', '/'],
    ['?next=%2F%2Fevil.example', '/'],
    ['?next=javascript%3Aalert(1)', '/'],
    ['?next=%2Flogin%3Fnext%3D%2Fvms', '/'],
  ])('%s → %s', (search, expected) => {
    expect(safeNext(search)).toBe(expected);
  });
});
