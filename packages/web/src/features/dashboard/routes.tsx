import type { RouteObject } from 'react-router';

/** The Dashboard (web-live); its code loads when the page is first opened. */
export const routes: RouteObject[] = [
  {
    path: 'dashboard',
    lazy: async () => ({ Component: (await import('./DashboardPage')).DashboardPage }),
    handle: { crumb: 'nav.dashboard' },
  },
];
