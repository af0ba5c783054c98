import { Toolbar, ToolbarContent, ToolbarItem } from '@patternfly/react-core';
import { FitAddon } from '@xterm/addon-fit';
import { Terminal } from '@xterm/xterm';
import '@xterm/xterm/css/xterm.css';
import { useCallback, useEffect, useRef, useState } from 'react';
import { api } from '../../api';
import { ConsolePage } from './ConsolePage';
import { ConnectionAlert, type ConsoleStatus, ConsoleStatusText } from './ConnectionState';
import { mirrorStyleElements } from './cspStyles';
import { consoleSocketUrl, frameBytes, requestTicket } from './ticket';

/** The guest's first serial port in xterm.js, raw bytes both ways over the ticketed WebSocket. */
function SerialTerminal({ vmId }: { vmId: string }) {
  const box = useRef<HTMLDivElement>(null);
  const [status, setStatus] = useState<ConsoleStatus>('connecting');
  const [error, setError] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);

  // biome-ignore lint/correctness/useExhaustiveDependencies: `attempt` is the reconnect trigger
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    let cancelled = false;
    let socket: WebSocket | null = null;
    setStatus('connecting');
    setError(null);
    const unmirror = mirrorStyleElements(el);
    const term = new Terminal({ convertEol: false, cursorBlink: true, scrollback: 5000, fontSize: 14 });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(el);
    fit.fit();
    const resize = new ResizeObserver(() => fit.fit());
    resize.observe(el);
    const encoder = new TextEncoder();
    const input = term.onData((data) => {
      if (socket?.readyState === WebSocket.OPEN) socket.send(encoder.encode(data));
    });
    void (async () => {
      try {
        const ticket = await requestTicket(api, vmId, 'serial');
        if (cancelled) return;
        socket = new WebSocket(consoleSocketUrl(window.location, ticket.ws_url));
        socket.binaryType = 'arraybuffer';
        socket.onopen = () => {
          setStatus('connected');
          term.focus();
        };
        socket.onmessage = (e) => {
          const bytes = frameBytes(e.data);
          if (bytes) term.write(bytes);
        };
        socket.onclose = () => {
          if (!cancelled) setStatus((s) => (s === 'connecting' ? 'failed' : 'disconnected'));
        };
      } catch (err) {
        if (cancelled) return;
        setStatus('failed');
        setError(err instanceof Error ? err.message : String(err));
      }
    })();
    return () => {
      cancelled = true;
      socket?.close();
      input.dispose();
      resize.disconnect();
      term.dispose();
      unmirror();
    };
  }, [vmId, attempt]);

  const reconnect = useCallback(() => setAttempt((n) => n + 1), []);

  return (
    <>
      <Toolbar>
        <ToolbarContent>
          <ToolbarItem>
            <ConsoleStatusText status={status} testId="serial-status" />
          </ToolbarItem>
        </ToolbarContent>
      </Toolbar>
      <ConnectionAlert status={status} error={error} onReconnect={reconnect} />
      <div ref={box} className="vireo-serial-screen" data-testid="serial-screen" />
    </>
  );
}

/** Route component: `/vms/:id/serial`. */
export function SerialConsolePage() {
  return <ConsolePage type="serial">{(vm) => <SerialTerminal vmId={vm.id} />}</ConsolePage>;
}
