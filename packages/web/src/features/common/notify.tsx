import { Alert, AlertActionCloseButton, AlertGroup } from '@patternfly/react-core';
import { createContext, type ReactNode, useCallback, useContext, useMemo, useRef, useState } from 'react';

export interface Notice {
  variant: 'success' | 'danger' | 'warning' | 'info';
  title: string;
  detail?: string;
}

const NotifyContext = createContext<((n: Notice) => void) | null>(null);

/** Toasts: outcomes of actions (accepted, failed) at the top right, gone after 8 s. */
export function NotificationsProvider({ children }: { children: ReactNode }) {
  const [items, setItems] = useState<(Notice & { key: number })[]>([]);
  const next = useRef(0);
  const remove = useCallback((key: number) => setItems((xs) => xs.filter((x) => x.key !== key)), []);
  const notify = useCallback(
    (n: Notice) => {
      const key = next.current++;
      setItems((xs) => [...xs.slice(-4), { ...n, key }]);
      setTimeout(() => remove(key), n.variant === 'danger' ? 15_000 : 8_000);
    },
    [remove],
  );
  const value = useMemo(() => notify, [notify]);
  return (
    <NotifyContext.Provider value={value}>
      {children}
      <AlertGroup isToast isLiveRegion>
        {items.map((n) => (
          <Alert
            key={n.key}
            variant={n.variant}
            title={n.title}
            actionClose={<AlertActionCloseButton onClose={() => remove(n.key)} />}
          >
            {n.detail}
          </Alert>
        ))}
      </AlertGroup>
    </NotifyContext.Provider>
  );
}

export function useNotify(): (n: Notice) => void {
  const n = useContext(NotifyContext);
  if (!n) throw new Error('useNotify outside <NotificationsProvider>');
  return n;
}
