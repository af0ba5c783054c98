/** The navigation, as the issue lists it: message ids and paths. */
export interface NavLink {
  id: string;
  to: string;
}
export interface NavGroup {
  id: string;
  links: NavLink[];
}

export const NAVIGATION: (NavLink | NavGroup)[] = [
  { id: 'nav.dashboard', to: '/dashboard' },
  {
    id: 'nav.compute',
    links: [
      { id: 'nav.datacenters', to: '/datacenters' },
      { id: 'nav.clusters', to: '/clusters' },
      { id: 'nav.hosts', to: '/hosts' },
      { id: 'nav.vms', to: '/vms' },
      { id: 'nav.templates', to: '/templates' },
      { id: 'nav.pools', to: '/pools' },
    ],
  },
  {
    id: 'nav.storage',
    links: [
      { id: 'nav.storageDomains', to: '/storage/domains' },
      { id: 'nav.disks', to: '/storage/disks' },
    ],
  },
  { id: 'nav.network', to: '/networks' },
  {
    id: 'nav.administration',
    links: [
      { id: 'nav.users', to: '/users' },
      { id: 'nav.events', to: '/events' },
    ],
  },
];

export const isGroup = (n: NavLink | NavGroup): n is NavGroup => 'links' in n;
