import RFB from '@novnc/novnc';
import { Button, Switch, Toolbar, ToolbarContent, ToolbarItem } from '@patternfly/react-core';
import { useCallback, useEffect, useRef, useState } from 'react';
import { FormattedMessage, useIntl } from 'react-intl';
import { api } from '../../api';
import { ConsolePage } from './ConsolePage';
import { ConnectionAlert, type ConsoleStatus, ConsoleStatusText } from './ConnectionState';
import { consoleSocketUrl, requestTicket, vncPassword } from './ticket';

/** The VM's screen through noVNC over the engine's ticketed WebSocket proxy. */
function VncScreen({ vmId }: { vmId: string }) {
  const intl = useIntl();
  const screen = useRef<HTMLDivElement>(null);
  const rfb = useRef<RFB | null>(null);
  const [status, setStatus] = useState<ConsoleStatus>('connecting');
  const [error, setError] = useState<string | null>(null);
  const [scale, setScale] = useState(true);
  const [attempt, setAttempt] = useState(0);
  const scaleRef = useRef(scale);
  scaleRef.current = scale;

  // biome-ignore lint/correctness/useExhaustiveDependencies: `attempt` is the reconnect trigger
  useEffect(() => {
    const el = screen.current;
    if (!el) return;
    let cancelled = false;
    let client: RFB | null = null;
    setStatus('connecting');
    setError(null);
    void (async () => {
      try {
        const ticket = await requestTicket(api, vmId, 'vnc');
        if (cancelled) return;
        client = new RFB(el, consoleSocketUrl(window.location, ticket.ws_url), {
          credentials: { password: vncPassword(ticket.ticket) },
        });
        rfb.current = client;
        client.scaleViewport = scaleRef.current;
        client.resizeSession = false;
        client.background = '#151515';
        client.addEventListener('connect', () => setStatus('connected'));
        client.addEventListener('disconnect', () => {
          if (!cancelled) setStatus((s) => (s === 'failed' ? s : 'disconnected'));
        });
        client.addEventListener('securityfailure', (e) => {
          setStatus('failed');
          setError(String((e as CustomEvent<{ reason?: string }>).detail?.reason ?? ''));
        });
      } catch (err) {
        if (cancelled) return;
        setStatus('failed');
        setError(err instanceof Error ? err.message : String(err));
      }
    })();
    return () => {
      cancelled = true;
      client?.disconnect();
      rfb.current = null;
    };
  }, [vmId, attempt]);

  useEffect(() => {
    if (rfb.current) rfb.current.scaleViewport = scale;
  }, [scale]);

  const reconnect = useCallback(() => setAttempt((n) => n + 1), []);

  return (
    <>
      <Toolbar>
        <ToolbarContent>
          <ToolbarItem>
            <Button
              variant="secondary"
              isDisabled={status !== 'connected'}
              onClick={() => rfb.current?.sendCtrlAltDel()}
              data-testid="vnc-ctrl-alt-del"
            >
              <FormattedMessage id="consoles.vnc.ctrlAltDel" />
            </Button>
          </ToolbarItem>
          <ToolbarItem>
            <Button
              variant="secondary"
              isDisabled={status !== 'connected'}
              onClick={() => void screen.current?.requestFullscreen?.().catch(() => {})}
            >
              <FormattedMessage id="consoles.vnc.fullscreen" />
            </Button>
          </ToolbarItem>
          <ToolbarItem>
            <Switch
              id="vnc-scale"
              label={intl.formatMessage({ id: 'consoles.vnc.scale' })}
              isChecked={scale}
              onChange={(_e, checked) => setScale(checked)}
            />
          </ToolbarItem>
          <ToolbarItem>
            <ConsoleStatusText status={status} testId="vnc-status" />
          </ToolbarItem>
        </ToolbarContent>
      </Toolbar>
      <ConnectionAlert status={status} error={error} onReconnect={reconnect} />
      <div ref={screen} className="vireo-vnc-screen" data-testid="vnc-screen" />
    </>
  );
}

/** Route component: `/vms/:id/console`. */
export function VncConsolePage() {
  return <ConsolePage type="vnc">{(vm) => <VncScreen vmId={vm.id} />}</ConsolePage>;
}
