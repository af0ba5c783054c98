import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { VmInfo, VmListResult } from '@vireo/agent-protocol';
import { loadConfig } from '../config';
import { AgentRpcClient } from '../rpc/client';
import { CONFIG_OPTIONS, parse, UsageError } from './args';
import { DEV_CA_FILES } from './dev-ca-files';

export const VM_USAGE = `usage: vireo-agent vm <command> [options]

  list [--json]                 VMs of this agent, and QEMU processes it does not own
  get ID                        one VM and its current spec (JSON)
  start SPEC.json               create and start a VM from a spec file
  shutdown ID [--timeout S]     ACPI power-off; powered off after S seconds (default 60)
  stop ID                       power off now
  reboot ID | reset ID | pause ID | resume ID
  destroy ID                    power off and forget the VM (its disks stay)
  console ID [--serial]         VNC endpoint and a one-time password, or the serial socket

connection: --connect HOST:PORT (default: the configured listen address)
            --ca FILE --client-cert FILE --client-key FILE (default: STATE_DIR/tls/)`;

const OPTIONS = {
  ...CONFIG_OPTIONS,
  connect: { type: 'string' },
  'client-cert': { type: 'string' },
  'client-key': { type: 'string' },
  json: { type: 'boolean' },
  serial: { type: 'boolean' },
  timeout: { type: 'string' },
} as const;

/** Runs `vireo-agent vm …` against the agent over mTLS, like virsh against libvirtd. */
export async function runVmCommand(args: string[], out: (line: string) => void): Promise<number> {
  const { values, positionals } = parse(args, OPTIONS);
  const [command, target] = positionals;
  if (!command) throw new UsageError('missing vm command');
  const config = loadConfig({
    config: values.config,
    'state-dir': values['state-dir'],
    listen: values.listen,
    ca: values.ca,
  });
  const tlsDir = join(config.stateDir, 'tls');
  const listenHost = ['0.0.0.0', '::'].includes(config.listen.host) ? '127.0.0.1' : config.listen.host;
  const client = await AgentRpcClient.connect({
    address: values.connect ?? `${listenHost}:${config.listen.port}`,
    ca: await readFile(config.tls.ca, 'utf8'),
    cert: await readFile(
      values['client-cert'] ?? process.env.VIREO_AGENT_CLIENT_CERT ?? join(tlsDir, DEV_CA_FILES.clientCert),
      'utf8',
    ),
    key: await readFile(
      values['client-key'] ?? process.env.VIREO_AGENT_CLIENT_KEY ?? join(tlsDir, DEV_CA_FILES.clientKey),
      'utf8',
    ),
    client: 'vireo-agent-cli',
    timeoutMs: 15 * 60_000,
  });
  const need = (): string => {
    if (!target) throw new UsageError(`vm ${command} needs a VM id`);
    return target;
  };
  const json = (value: unknown) => out(JSON.stringify(value, null, 2));
  try {
    switch (command) {
      case 'list': {
        const result = await client.call('vm.list', {});
        if (values.json) json(result);
        else printList(result, out);
        return 0;
      }
      case 'get':
        json(await client.call('vm.get', { vm_id: need() }));
        return 0;
      case 'start': {
        if (!target) throw new UsageError('vm start needs a spec file');
        const spec = JSON.parse(await readFile(target, 'utf8'));
        json((await client.call('vm.start', { spec })).vm);
        return 0;
      }
      case 'shutdown': {
        const timeout = values.timeout === undefined ? undefined : Number(values.timeout);
        if (timeout !== undefined && (!Number.isInteger(timeout) || timeout < 0)) {
          throw new UsageError('--timeout takes whole seconds');
        }
        const result = await client.call('vm.shutdown', {
          vm_id: need(),
          ...(timeout !== undefined ? { timeout_s: timeout } : {}),
        });
        json(result);
        return 0;
      }
      case 'stop':
      case 'reboot':
      case 'reset':
      case 'pause':
      case 'resume':
        json((await client.call(`vm.${command}`, { vm_id: need() })).vm);
        return 0;
      case 'destroy':
        json(await client.call('vm.destroy', { vm_id: need() }));
        return 0;
      case 'console':
        json(
          await client.call(
            'vm.console',
            values.serial ? { vm_id: need(), type: 'serial' } : { vm_id: need(), type: 'vnc' },
          ),
        );
        return 0;
      default:
        throw new UsageError(`unknown vm command "${command}"`);
    }
  } finally {
    client.close();
  }
}

function printList(result: VmListResult, out: (line: string) => void): void {
  const rows: string[][] = [['ID', 'NAME', 'STATE', 'REASON', 'PID']];
  for (const vm of result.vms as VmInfo[]) {
    rows.push([vm.id, vm.name ?? '-', vm.state, vm.reason, vm.pid === null ? '-' : String(vm.pid)]);
  }
  for (const ext of result.external) {
    rows.push([ext.uuid ?? '-', ext.name ?? '-', 'external', '-', String(ext.pid)]);
  }
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  for (const row of rows)
    out(
      row
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    );
}
