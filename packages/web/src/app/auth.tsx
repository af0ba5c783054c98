import type { Identity } from '@vireo/client';
import { createContext, type ReactNode, useCallback, useContext, useEffect, useMemo, useState } from 'react';
import { api, onUnauthenticated } from '../api';

/** Why the login page is shown: first visit, the session ended under the user, or a logout. */
export type LoginReason = 'none' | 'expired' | 'logged_out';

interface AuthState {
  /** `undefined` while the first whoami is in flight. */
  user: Identity | null | undefined;
  reason: LoginReason;
  login(username: string, password: string): Promise<void>;
  logout(): Promise<void>;
}

const AuthContext = createContext<AuthState | null>(null);

/**
 * The session. The engine keeps it in an HttpOnly cookie the portal never sees; `whoami` tells
 * whether it is valid. Any 401 from any request (expired or revoked session) drops to the login
 * page with a message; the page the user was on is where the login returns to.
 */
export function AuthProvider({ children }: { children: ReactNode }) {
  const [user, setUser] = useState<Identity | null | undefined>(undefined);
  const [reason, setReason] = useState<LoginReason>('none');

  useEffect(() => {
    const ctrl = new AbortController();
    api.whoami(ctrl.signal).then(
      (me) => setUser(me),
      () => {
        if (!ctrl.signal.aborted) setUser(null);
      },
    );
    const off = onUnauthenticated(() => {
      setUser((was) => {
        if (was) setReason('expired');
        return null;
      });
    });
    return () => {
      ctrl.abort();
      off();
    };
  }, []);

  const login = useCallback(async (username: string, password: string) => {
    await api.login(username, password);
    // The answer's token is not kept: the portal authenticates with the HttpOnly cookie only.
    api.setToken(undefined);
    setUser(await api.whoami());
    setReason('none');
  }, []);

  const logout = useCallback(async () => {
    try {
      await api.request('POST', '/auth/logout');
    } finally {
      setReason('logged_out');
      setUser(null);
    }
  }, []);

  const value = useMemo(() => ({ user, reason, login, logout }), [user, reason, login, logout]);
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthState {
  const s = useContext(AuthContext);
  if (!s) throw new Error('useAuth outside <AuthProvider>');
  return s;
}
