import type { RouteObject, UIMatch } from 'react-router';
import type { RouteHandle } from '../app/Layout';
import { ClustersPage } from './clusters/ClustersPage';
import { ObjectCrumb } from './common/DetailPage';
import { ClusterDetailPage, DataCenterDetailPage, HostDetailPage } from './datacenters/details';
import { DataCentersPage } from './datacenters/DataCentersPage';
import { EventsPage } from './events/EventsPage';
import { HostsPage } from './hosts/HostsPage';
import { DisksPage, StorageDomainDetailPage, StorageDomainsPage } from './storage';
import { TemplateDetailPage } from './templates/TemplateDetailPage';
import { TemplatesPage } from './templates/TemplatesPage';
import { CreateVmWizard } from './vms/CreateVmWizard';
import { VmDetailPage } from './vms/VmDetailPage';
import { VmsPage } from './vms/VmsPage';

const crumb = (id: string): RouteHandle => ({ crumb: id });
const objectCrumb = (collection: string): RouteHandle => ({
  crumb: (m: UIMatch) => <ObjectCrumb collection={collection} id={m.params.id ?? ''} />,
});

/** A list page with its object pages below it (`/vms` → `/vms/:id`), for breadcrumbs. */
function section(
  path: string,
  titleId: string,
  list: RouteObject['element'],
  children: RouteObject[],
): RouteObject {
  return { path, handle: crumb(titleId), children: [{ index: true, element: list }, ...children] };
}

/** The pages web-shell owns (lists, details, forms, events); see app/router.tsx for the rest. */
export function featureRoutes(): RouteObject[] {
  return [
    section('datacenters', 'nav.datacenters', <DataCentersPage />, [
      { path: ':id', element: <DataCenterDetailPage />, handle: objectCrumb('datacenters') },
    ]),
    section('clusters', 'nav.clusters', <ClustersPage />, [
      { path: ':id', element: <ClusterDetailPage />, handle: objectCrumb('clusters') },
    ]),
    section('hosts', 'nav.hosts', <HostsPage />, [
      { path: ':id', element: <HostDetailPage />, handle: objectCrumb('hosts') },
    ]),
    section('vms', 'nav.vms', <VmsPage />, [
      { path: 'new', element: <CreateVmWizard />, handle: crumb('vm.create') },
      { path: ':id', element: <VmDetailPage />, handle: objectCrumb('vms') },
    ]),
    section('templates', 'nav.templates', <TemplatesPage />, [
      { path: ':id', element: <TemplateDetailPage />, handle: objectCrumb('templates') },
    ]),
    {
      path: 'storage',
      handle: crumb('nav.storage'),
      children: [
        section('domains', 'nav.storageDomains', <StorageDomainsPage />, [
          { path: ':id', element: <StorageDomainDetailPage />, handle: objectCrumb('storage-domains') },
        ]),
        { path: 'disks', element: <DisksPage />, handle: crumb('nav.disks') },
      ],
    },
    { path: 'events', element: <EventsPage />, handle: crumb('nav.events') },
  ];
}
