import {
  CLUSTER_CPU_TYPES,
  type ClusterCpuType,
  COMPATIBILITY_VERSIONS,
  MEMORY_OVERCOMMIT_MAX,
  MEMORY_OVERCOMMIT_MIN,
  SCHEDULING_POLICIES,
  STORAGE_FORMATS,
  type SchedulingPolicy,
} from '@vireo/api';
import { InvalidInput } from '../errors';

/** Defaults of a new data center / cluster when the request leaves a field out. */
export const DATACENTER_DEFAULTS = {
  description: '',
  storage_format: 'v1',
  compatibility_version: '1.0',
} as const;

export const CLUSTER_DEFAULTS = {
  description: '',
  // The one model every accelerator (KVM and TCG) runs, so a fresh cluster accepts any host.
  cpu_type: 'qemu64' as ClusterCpuType,
  memory_overcommit_percent: 100,
  scheduling_policy: 'none' as SchedulingPolicy,
} as const;

/**
 * The rules the HTTP schema already enforces, checked again here because services are also called
 * from places without a schema (setup, future importers). Cheap, and the database keeps CHECKs too.
 */
export function checkDatacenterFields(fields: { storage_format?: string; compatibility_version?: string }) {
  if (
    fields.storage_format !== undefined &&
    !(STORAGE_FORMATS as readonly string[]).includes(fields.storage_format)
  ) {
    throw new InvalidInput('invalid_input', `unknown storage format "${fields.storage_format}"`, {
      details: { field: 'storage_format', allowed: STORAGE_FORMATS },
    });
  }
  if (
    fields.compatibility_version !== undefined &&
    !(COMPATIBILITY_VERSIONS as readonly string[]).includes(fields.compatibility_version)
  ) {
    throw new InvalidInput(
      'invalid_input',
      `unsupported compatibility version "${fields.compatibility_version}"`,
      {
        details: { field: 'compatibility_version', allowed: COMPATIBILITY_VERSIONS },
      },
    );
  }
}

export function checkClusterFields(fields: {
  cpu_type?: string;
  memory_overcommit_percent?: number;
  scheduling_policy?: string;
}) {
  if (fields.cpu_type !== undefined && !(CLUSTER_CPU_TYPES as readonly string[]).includes(fields.cpu_type)) {
    throw new InvalidInput('invalid_input', `unknown CPU type "${fields.cpu_type}"`, {
      details: { field: 'cpu_type', allowed: CLUSTER_CPU_TYPES },
    });
  }
  const oc = fields.memory_overcommit_percent;
  if (
    oc !== undefined &&
    (!Number.isInteger(oc) || oc < MEMORY_OVERCOMMIT_MIN || oc > MEMORY_OVERCOMMIT_MAX)
  ) {
    throw new InvalidInput(
      'invalid_input',
      `memory overcommit must be an integer from ${MEMORY_OVERCOMMIT_MIN} to ${MEMORY_OVERCOMMIT_MAX} percent`,
      {
        details: {
          field: 'memory_overcommit_percent',
          min: MEMORY_OVERCOMMIT_MIN,
          max: MEMORY_OVERCOMMIT_MAX,
        },
      },
    );
  }
  if (
    fields.scheduling_policy !== undefined &&
    !(SCHEDULING_POLICIES as readonly string[]).includes(fields.scheduling_policy)
  ) {
    throw new InvalidInput('invalid_input', `unknown scheduling policy "${fields.scheduling_policy}"`, {
      details: { field: 'scheduling_policy', allowed: SCHEDULING_POLICIES },
    });
  }
}
