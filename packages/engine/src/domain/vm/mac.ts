import { randomBytes } from 'node:crypto';

/**
 * A random MAC in the locally administered, unicast space (`x2:…`, `x6:…`, `xA:…`, `xE:…`), so it
 * never collides with a vendor's burnt-in address. Collisions between VMs are 1 in 2^46.
 */
export function randomMac(): string {
  const b = randomBytes(6);
  b[0] = ((b[0] ?? 0) & 0xfc) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}
