import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { render } from '@testing-library/react';
import type { ReactNode } from 'react';
import { MemoryRouter } from 'react-router';
import { LiveContext, LiveUpdates } from '../api';
import { type Locale, LocaleProvider } from '../i18n';
import { NotificationsProvider } from '../features/common/notify';

/** A JSON answer from a stubbed engine (component tests stub `fetch`). */
export const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

/**
 * Renders `ui` inside the providers the portal's shell gives every screen: a query cache that
 * neither retries nor goes stale (so each fetch a test sees was caused by the screen), live updates,
 * a fixed locale, notifications and a router at `path`. Returns the query cache.
 */
export function renderInPortal(ui: ReactNode, options: { locale?: Locale; path?: string } = {}): QueryClient {
  const queries = new QueryClient({ defaultOptions: { queries: { retry: false, staleTime: Infinity } } });
  render(
    <QueryClientProvider client={queries}>
      <LiveContext.Provider value={new LiveUpdates(queries)}>
        <LocaleProvider initial={options.locale ?? 'en'}>
          <NotificationsProvider>
            <MemoryRouter initialEntries={options.path ? [options.path] : undefined}>{ui}</MemoryRouter>
          </NotificationsProvider>
        </LocaleProvider>
      </LiveContext.Provider>
    </QueryClientProvider>,
  );
  return queries;
}
