import type { RouteObject } from 'react-router';

/** The pages web-shell owns (lists, details, forms, events); see app/router.tsx for the rest. */
export function featureRoutes(): RouteObject[] {
  return [];
}
