import type { RouteObject } from 'react-router';

/**
 * Full-page graphs (web-live): `/hosts/:id/monitoring` and `/vms/:id/monitoring`, for a link or a
 * second window next to the detail pages' Monitoring tab. The chart code loads when opened.
 */
export const routes: RouteObject[] = [
  {
    path: 'hosts/:id/monitoring',
    lazy: async () => ({ Component: (await import('./MonitoringPage')).HostMonitoringPage }),
    handle: { crumb: 'tab.monitoring' },
  },
  {
    path: 'vms/:id/monitoring',
    lazy: async () => ({ Component: (await import('./MonitoringPage')).VmMonitoringPage }),
    handle: { crumb: 'tab.monitoring' },
  },
];
