import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { ApiError } from '@vireo/client';
import { useEffect, useMemo } from 'react';
import { RouterProvider } from 'react-router';
import { LiveContext, LiveUpdates } from '../api';
import { LocaleProvider } from '../i18n';
import { NotificationsProvider } from '../features/common/notify';
import { AuthProvider, useAuth } from './auth';
import { createPortalRouter } from './router';

export function createQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        // Freshness comes from the event stream (invalidation), not from timers or focus.
        staleTime: Number.POSITIVE_INFINITY,
        refetchOnWindowFocus: false,
        retry: (count, err) => !(err instanceof ApiError && err.status < 500) && count < 2,
      },
    },
  });
}

/** Opens the event stream while someone is logged in; closes it at logout or session expiry. */
function LiveWhileLoggedIn({ live }: { live: LiveUpdates }) {
  const { user } = useAuth();
  useEffect(() => {
    if (!user) return;
    live.start();
    return () => live.stop();
  }, [user, live]);
  return null;
}

export function App() {
  const queries = useMemo(createQueryClient, []);
  const live = useMemo(() => new LiveUpdates(queries), [queries]);
  const router = useMemo(createPortalRouter, []);
  return (
    <LocaleProvider>
      <QueryClientProvider client={queries}>
        <LiveContext.Provider value={live}>
          <NotificationsProvider>
            <AuthProvider>
              <LiveWhileLoggedIn live={live} />
              <RouterProvider router={router} />
            </AuthProvider>
          </NotificationsProvider>
        </LiveContext.Provider>
      </QueryClientProvider>
    </LocaleProvider>
  );
}
