import { useMemo } from 'react';
import { useLiveList, useLiveObject } from '../../api';

interface ClusterRow {
  id: string;
  name: string;
  datacenter_id: string;
}
interface DomainRow {
  id: string;
  name: string;
  kind: string;
  state: string;
  datacenter_id: string | null;
}
export interface TemplateRow {
  id: string;
  name: string;
  state: string;
}

/** The same query the shared name lookups use, so the cache answers it. */
const ALL = { limit: 200, sort: 'name' };

/** The data center a cluster belongs to ('' while unknown). */
export function useDataCenterOf(clusterId: string): string {
  const clusters = useLiveList<ClusterRow>('clusters', ALL);
  return clusters.data?.items.find((c) => c.id === clusterId)?.datacenter_id ?? '';
}

/** The active storage domains of a kind (`data`, `iso`) in a data center, as picker options. */
export function useDomainOptions(datacenterId: string, kind: 'data' | 'iso') {
  const list = useLiveList<DomainRow>('storage-domains', {
    ...ALL,
    kind,
    ...(datacenterId ? { datacenter_id: datacenterId } : {}),
  });
  return useMemo(
    () =>
      (list.data?.items ?? [])
        .filter((d) => d.state === 'active' && (!datacenterId || d.datacenter_id === datacenterId))
        .map((d) => ({ value: d.id, label: d.name })),
    [list.data, datacenterId],
  );
}

/** The ISO files of an ISO domain (`GET /storage-domains/{id}/isos`), by name. */
export function useIsoFiles(domainId: string): { files: string[]; error: Error | null; loading: boolean } {
  const isos = useLiveObject<{ files: { name: string }[] }>('storage-domains', domainId || undefined, 'isos');
  return {
    files: (isos.data?.files ?? []).map((f) => f.name).sort(),
    error: isos.error,
    loading: isos.isFetching,
  };
}

/** Templates that can be cloned now (`ok`), as picker options. */
export function useTemplateOptions() {
  const list = useLiveList<TemplateRow>('templates');
  return useMemo(
    () =>
      (list.data?.items ?? [])
        .filter((t) => t.state === 'ok')
        .map((t) => ({ value: t.id, label: t.name }))
        .sort((a, b) => a.label.localeCompare(b.label)),
    [list.data],
  );
}
