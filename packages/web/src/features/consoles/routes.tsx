import type { RouteObject } from 'react-router';

/**
 * The VM consoles (web-live): `/vms/:id/console` (VNC, noVNC) and `/vms/:id/serial` (xterm.js).
 * Both load their code (and noVNC / xterm.js) only when opened.
 */
export const routes: RouteObject[] = [
  {
    path: 'vms/:id/console',
    lazy: async () => ({ Component: (await import('./VncConsole')).VncConsolePage }),
    handle: { crumb: 'consoles.vnc.crumb' },
  },
  {
    path: 'vms/:id/serial',
    lazy: async () => ({ Component: (await import('./SerialConsole')).SerialConsolePage }),
    handle: { crumb: 'consoles.serial.crumb' },
  },
];
