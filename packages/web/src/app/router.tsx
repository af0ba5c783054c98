import type { ReactNode } from 'react';
import { createBrowserRouter, Navigate, type RouteObject, useLocation } from 'react-router';
import { LoginPage } from '../features/auth/LoginPage';
import { Placeholder } from '../features/placeholder/Placeholder';
import { featureRoutes } from '../features/routes';
import { useAuth } from './auth';
import { extensionRoutes, hasExtensionRoute } from './extensions';
import { Layout, type RouteHandle } from './Layout';

/** Pages of the layout only after a login; otherwise to the login page, remembering where to return. */
function RequireAuth({ children }: { children: ReactNode }) {
  const { user } = useAuth();
  const location = useLocation();
  if (user === undefined) return null;
  if (user === null) {
    const next = `${location.pathname}${location.search}`;
    return <Navigate to={`/login?next=${encodeURIComponent(next)}`} replace />;
  }
  return <>{children}</>;
}

const placeholder = (path: string, titleId: string): RouteObject => ({
  path,
  element: <Placeholder titleId={titleId} />,
  handle: { crumb: titleId } satisfies RouteHandle,
});

/** Pages that are not built yet (their APIs are not in the engine) say "coming". */
const PLACEHOLDERS: [string, string][] = [
  ['dashboard', 'nav.dashboard'],
  ['templates', 'nav.templates'],
  ['pools', 'nav.pools'],
  ['networks', 'nav.network'],
  ['users', 'nav.users'],
];

export function portalRoutes(): RouteObject[] {
  const owned = featureRoutes();
  const taken = new Set(owned.map((r) => r.path));
  return [
    { path: '/login', element: <LoginPage /> },
    {
      path: '/',
      element: (
        <RequireAuth>
          <Layout />
        </RequireAuth>
      ),
      children: [
        { index: true, element: <Navigate to="/dashboard" replace /> },
        ...owned,
        ...extensionRoutes,
        ...PLACEHOLDERS.filter(([p]) => !hasExtensionRoute(p) && !taken.has(p)).map(([p, t]) =>
          placeholder(p, t),
        ),
        { path: '*', element: <Placeholder titleId="common.notFound" /> },
      ],
    },
  ];
}

export function createPortalRouter() {
  return createBrowserRouter(portalRoutes());
}
