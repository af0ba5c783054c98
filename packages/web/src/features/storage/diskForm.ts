import type { DiskCreate } from '@vireo/api';

/** The disk-create form as typed. `allocation` is what people choose; format/preallocation follow. */
export interface DiskFormValues {
  name: string;
  description: string;
  storage_domain_id: string;
  size_gib: string;
  format: 'qcow2' | 'raw';
  allocation: 'thin' | 'preallocated';
  shareable: boolean;
  /** undefined = the engine's default (`GET /disks/defaults`), which the box shows until touched. */
  encrypted?: boolean;
}

export const EMPTY_DISK_FORM: DiskFormValues = {
  name: '',
  description: '',
  storage_domain_id: '',
  size_gib: '10',
  format: 'qcow2',
  allocation: 'thin',
  shareable: false,
};

/** A whole number typed as digits becomes a number; anything else goes as typed so the engine names it. */
export function numberOrRaw(s: string): number | string {
  const t = s.trim();
  return /^\d+$/.test(t) ? Number(t) : t;
}

/**
 * `POST /disks` body. Thin is qcow2 without preallocation (raw: sparse); preallocated reserves the
 * space with fallocate (fast). Shareable and encrypted are sent only when chosen: the engine refuses
 * the combinations it does not support (shareable qcow2, encrypted raw) with its own message.
 */
export function diskCreateBody(v: DiskFormValues): DiskCreate {
  const description = v.description.trim();
  return {
    name: v.name.trim(),
    storage_domain_id: v.storage_domain_id,
    size_gib: numberOrRaw(v.size_gib),
    format: v.format,
    preallocation: v.allocation === 'thin' ? 'off' : 'falloc',
    ...(description ? { description } : {}),
    ...(v.shareable ? { shareable: true } : {}),
    // A choice the user made goes as made (unticking opts out of the engine's default).
    ...(v.encrypted === undefined ? {} : { encrypted: v.encrypted }),
  } as DiskCreate;
}

/** The form's own checks before a request: only what the engine cannot name a field for. */
export function extendProblem(currentGib: number, typed: string): 'notNumber' | 'notLarger' | null {
  const n = numberOrRaw(typed);
  if (typeof n !== 'number') return 'notNumber';
  return n > currentGib ? null : 'notLarger';
}
