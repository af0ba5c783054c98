import type { ScannedDisk } from '@vireo/agent-protocol';
import type { OvfDocument } from '../ovf';
import type { DiskMetadata } from './disk-metadata';

/**
 * What an imported data domain holds that this engine does not know: pure matching of the agent's
 * scan (the truth about files) with the metadata and OVF files under `master/` (the truth about
 * names and configuration). Anything that does not agree is listed with a `problem` and cannot be
 * registered; nothing here trusts either side alone.
 */

export interface RegistrationProblem {
  code: string;
  message: string;
}

export interface UnregisteredVolume {
  id: string;
  parent_id: string | null;
  format: 'qcow2' | 'raw';
  size_bytes: number;
  active: boolean;
}

export interface UnregisteredDisk {
  id: string;
  /** From the metadata; null when it is missing or refused. */
  name: string | null;
  description: string;
  format: 'qcow2' | 'raw' | null;
  /** Virtual size of the leaf as qemu-img read it. */
  size_bytes: number | null;
  preallocation: DiskMetadata['preallocation'];
  shareable: boolean;
  volumes: UnregisteredVolume[];
  /** A thin clone's base (a template disk's volume): must be registered here already. */
  base: { disk_id: string; volume_id: string } | null;
  problem: RegistrationProblem | null;
}

export interface UnregisteredVm {
  id: string;
  name: string;
  kind: 'vm' | 'template';
  disk_ids: string[];
  ovf: OvfDocument | null;
  problem: RegistrationProblem | null;
}

/** The registered side: template base volumes a thin clone may lean on, templates a version needs. */
export interface RegisteredFacts {
  /** volume id → disk id, for volumes of registered template disks in this domain. */
  templateBaseVolumes: Map<string, string>;
  /** Ids of the templates this engine has (a template version needs its base template). */
  templates?: Set<string>;
}

const problem = (code: string, message: string): RegistrationProblem => ({ code, message });

/** One disk directory: the scan's chain must be exactly the metadata's chain. */
export function matchDisk(
  scan: ScannedDisk,
  meta: DiskMetadata | Error | undefined,
  facts: RegisteredFacts,
): UnregisteredDisk {
  const leaf = scan.volumes[scan.volumes.length - 1];
  const root = scan.volumes[0];
  const out: UnregisteredDisk = {
    id: scan.disk_id,
    name: null,
    description: '',
    format: null,
    size_bytes: leaf?.virtual_size ?? null,
    preallocation: 'off',
    shareable: false,
    volumes: scan.volumes.map((v, i) => ({
      id: v.volume_id,
      parent_id: v.parent?.volume_id ?? null,
      format: v.format,
      size_bytes: v.virtual_size,
      active: i === scan.volumes.length - 1,
    })),
    base:
      root?.parent && root.parent.disk_id !== scan.disk_id
        ? { disk_id: root.parent.disk_id, volume_id: root.parent.volume_id }
        : null,
    problem: null,
  };
  if (meta && !(meta instanceof Error)) {
    out.name = meta.name;
    out.description = meta.description;
    out.format = meta.format;
    out.preallocation = meta.preallocation;
    out.shareable = meta.shareable;
  }
  out.problem = diskProblem(scan, meta, out, facts);
  return out;
}

function diskProblem(
  scan: ScannedDisk,
  meta: DiskMetadata | Error | undefined,
  out: UnregisteredDisk,
  facts: RegisteredFacts,
): RegistrationProblem | null {
  if (scan.problem) return { ...scan.problem };
  if (meta === undefined)
    return problem('disk_metadata_missing', 'no master/disks metadata names this disk directory');
  if (meta instanceof Error) return problem('disk_metadata_invalid', meta.message);
  if (meta.encrypted)
    return problem('disk_encrypted', 'the disk is encrypted; its key stayed with the engine that made it');
  const same =
    meta.volumes.length === scan.volumes.length &&
    meta.volumes.every((v, i) => {
      const s = scan.volumes[i];
      return (
        s && s.volume_id === v.id && s.format === v.format && (s.parent?.volume_id ?? null) === v.parent_id
      );
    });
  if (!same)
    return problem(
      'disk_chain_mismatch',
      "the volumes on storage are not the chain the disk's metadata lists",
    );
  if (out.base) {
    const owner = facts.templateBaseVolumes.get(out.base.volume_id);
    if (owner !== out.base.disk_id)
      return problem(
        'disk_base_not_registered',
        `the disk is a thin clone of ${out.base.disk_id}, which is not a registered template disk here`,
      );
  }
  if ((out.size_bytes ?? 0) < 1048576)
    return problem('disk_chain_mismatch', 'the disk is smaller than 1 MiB');
  return null;
}

/**
 * One VM (or template) configuration: registrable when every disk it names is an unregistered disk
 * of this domain without a problem, naming its leaf. A template's disks must be single base volumes
 * and a template version needs its base template registered here.
 */
export function matchVm(
  id: string,
  ovf: OvfDocument | Error,
  disks: Map<string, UnregisteredDisk>,
  facts: Pick<RegisteredFacts, 'templates'> = {},
): UnregisteredVm {
  if (ovf instanceof Error) {
    return {
      id,
      name: '',
      kind: 'vm',
      disk_ids: [],
      ovf: null,
      problem: problem('ovf_invalid', ovf.message),
    };
  }
  const base = { id, name: ovf.name, kind: ovf.kind, disk_ids: ovf.disks.map((d) => d.disk_id), ovf };
  if (ovf.id !== id)
    return { ...base, problem: problem('ovf_invalid', `the OVF describes ${ovf.id}, not ${id}`) };
  const versionOf = ovf.template?.version_of;
  if (ovf.kind === 'template' && versionOf && !facts.templates?.has(versionOf))
    return {
      ...base,
      problem: problem(
        'template_base_not_registered',
        `template ${versionOf} (its base version) is not registered here`,
      ),
    };
  for (const d of ovf.disks) {
    const found = disks.get(d.disk_id);
    if (!found)
      return {
        ...base,
        problem: problem('disk_missing', `disk ${d.disk_id} is not an unregistered disk of this domain`),
      };
    if (found.problem)
      return {
        ...base,
        problem: problem(
          'disk_unusable',
          `disk ${d.disk_id}: ${found.problem.code}: ${found.problem.message}`,
        ),
      };
    if (ovf.kind === 'template' && (found.volumes.length !== 1 || found.base))
      return {
        ...base,
        problem: problem('disk_chain_mismatch', `template disk ${d.disk_id} is not a single base volume`),
      };
    const leaf = found.volumes[found.volumes.length - 1];
    if (leaf?.id !== d.volume_id)
      return {
        ...base,
        problem: problem(
          'disk_chain_mismatch',
          `the OVF names volume ${d.volume_id} of disk ${d.disk_id}, not the leaf`,
        ),
      };
  }
  return { ...base, problem: null };
}

/** `name`, or `name-1`, `name-2`… the first that `taken` does not hold (case-insensitive). */
export function freeName(name: string, taken: Set<string>): string {
  if (!taken.has(name.toLowerCase())) return name;
  for (let i = 1; i < 10_000; i++) {
    const suffix = `-${i}`;
    const candidate = `${name.slice(0, 64 - suffix.length)}${suffix}`;
    if (!taken.has(candidate.toLowerCase())) return candidate;
  }
  throw new Error(`no free name for ${name}`);
}
