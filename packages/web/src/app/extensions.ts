import type { RouteObject } from 'react-router';

/**
 * Routes other feature owners add without editing the router: each of
 * `src/features/{dashboard,consoles,charts}/routes.tsx` exports `routes: RouteObject[]`, paths
 * relative to the portal root (`dashboard`, `vms/:id/console`, …), rendered inside the layout. A
 * module that is not there yet simply contributes nothing (the router shows placeholders).
 */
const modules = import.meta.glob<{ routes?: RouteObject[] }>(
  '../features/{dashboard,consoles,charts}/routes.tsx',
  {
    eager: true,
  },
);

export const extensionRoutes: RouteObject[] = Object.keys(modules)
  .sort()
  .flatMap((path) => modules[path]?.routes ?? []);

/** Whether an extension already serves `path` (so the router leaves out its placeholder). */
export function hasExtensionRoute(path: string): boolean {
  return extensionRoutes.some((r) => r.path === path);
}
