import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { AgentRpcError } from '../rpc/client';
import { ConfigError, loadConfig } from '../config';
import { createHostFacts, resolveAccelerator } from '../host';
import { createRootLogger } from '../util/log';
import { CONFIG_OPTIONS, parse, UsageError } from './args';
import { JOIN_USAGE, joinEngine, readToken } from './join';
import { AGENT_VERSION, startAgent } from './serve';
import { runVmCommand, VM_USAGE } from './vm';

const USAGE = `usage: vireo-agent <command> [options]

  serve      run the agent: --state-dir DIR --listen HOST:PORT --ca FILE --cert FILE --key FILE
             --accel auto|kvm|tcg --image-dir DIR (repeatable) --qemu BINARY --config FILE.json
             (each also from VIREO_AGENT_* variables; flags win over variables over the file)
  join       enroll this host with an engine using a join token (see "vireo-agent join --help")
  dev-ca     create a development CA, agent and client certificates: --dir DIR (default STATE_DIR/tls)
  vm         talk to the running agent (see "vireo-agent vm --help")
  version    print the version`;

/** The `vireo-agent` command line. Resolves with the exit status. */
export async function runCli(
  argv: string[],
  out = (line: string) => process.stdout.write(`${line}\n`),
): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'serve':
        return await serve(rest, out);
      case 'dev-ca':
        return await devCa(rest, out);
      case 'join':
        if (rest.includes('--help')) {
          out(JOIN_USAGE);
          return 0;
        }
        return await joinCommand(rest, out);
      case 'vm':
        if (rest.includes('--help') || rest.length === 0) {
          out(VM_USAGE);
          return rest.length === 0 ? 2 : 0;
        }
        return await runVmCommand(rest, out);
      case 'version':
      case '--version':
        out(AGENT_VERSION);
        return 0;
      case undefined:
      case 'help':
      case '--help':
        out(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`vireo-agent: ${err.message}\n\n${command === 'vm' ? VM_USAGE : USAGE}\n`);
      return 2;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`vireo-agent: ${err.message}\n`);
      return 2;
    }
    if (err instanceof AgentRpcError) {
      process.stderr.write(`vireo-agent: ${err.code}: ${err.message}\n`);
      return 1;
    }
    process.stderr.write(`vireo-agent: ${(err as Error).message ?? err}\n`);
    return 1;
  }
}

async function devCa(args: string[], out: (line: string) => void): Promise<number> {
  const { values } = parse(args, {
    ...CONFIG_OPTIONS,
    dir: { type: 'string' },
    force: { type: 'boolean' },
    hostname: { type: 'string', multiple: true },
  });
  const dir =
    values.dir ??
    join(loadConfig({ config: values.config, 'state-dir': values['state-dir'] }).stateDir, 'tls');
  // Loaded on demand: the certificate library is only needed here, and `serve` stays smaller without it.
  const { createDevCa } = await import('./dev-ca');
  const result = await createDevCa(dir, { force: values.force ?? false, hostnames: values.hostname ?? [] });
  out(`development CA and certificates written to ${result.dir}`);
  return 0;
}

async function joinCommand(args: string[], out: (line: string) => void): Promise<number> {
  const { values } = parse(args, {
    ...CONFIG_OPTIONS,
    engine: { type: 'string' },
    token: { type: 'string' },
    'token-file': { type: 'string' },
    'token-stdin': { type: 'boolean' },
    'ca-fingerprint': { type: 'string' },
    'ca-file': { type: 'string' },
    name: { type: 'string' },
    address: { type: 'string' },
  });
  if (!values.engine) throw new UsageError('--engine URL is required');
  if (!values.address) throw new UsageError('--address is required (the name or IP the engine dials)');
  const config = loadConfig(values);
  const token = readToken({
    ...(values['token-file'] !== undefined ? { file: values['token-file'] } : {}),
    ...(values['token-stdin'] ? { stdin: true } : {}),
    ...(values.token !== undefined ? { value: values.token } : {}),
  });
  const result = await joinEngine(
    {
      engine: values.engine,
      token,
      ...(values['ca-fingerprint'] ? { caFingerprint: values['ca-fingerprint'] } : {}),
      ...(values['ca-file'] ? { caPem: readFileSync(values['ca-file'], 'utf8') } : {}),
      name: values.name ?? hostname().split('.')[0] ?? 'host',
      address: values.address,
    },
    config.tls,
    config.listen.port,
  );
  out(
    `joined as host ${result.hostId}; certificate written to ${result.certFile}; now run "vireo-agent serve"`,
  );
  return 0;
}

async function serve(args: string[], out: (line: string) => void): Promise<number> {
  const { values } = parse(args, {
    ...CONFIG_OPTIONS,
    accel: { type: 'string' },
    qemu: { type: 'string' },
    'image-dir': { type: 'string', multiple: true },
    'stats-interval': { type: 'string' },
  });
  const config = loadConfig(values);
  const log = createRootLogger(config.logLevel);
  // Handlers go in before anything is announced: a supervisor that reads the "listening" line may
  // send TERM before this process runs again, and Node's default action would kill it uncleanly.
  // A TERM during start-up stops the agent as soon as it has started; repeats while stopping are
  // ignored (SIGKILL is the way to force it).
  const stopRequested = new Promise<string>((resolve) => {
    let requested = false;
    const onSignal = (signal: string) => {
      if (requested) {
        log.info({ signal }, 'already stopping');
        return;
      }
      requested = true;
      resolve(signal);
    };
    process.on('SIGTERM', () => onSignal('SIGTERM'));
    process.on('SIGINT', () => onSignal('SIGINT'));
  });
  // Resolved here (not inside startAgent) because the capabilities report the same decision.
  const accel = await resolveAccelerator(config.accel, {
    stateDir: config.stateDir,
    qemuBinary: config.qemuBinary,
    logger: log,
  });
  const agent = await startAgent(config, log, {
    host: createHostFacts({ qemuBinary: config.qemuBinary, accel }),
    resolveAccel: async () => accel.accel,
  });
  out(`vireo-agent listening on ${agent.address} (agent ${agent.agentId})`);
  log.info({ signal: await stopRequested }, 'stopping; VMs keep running');
  await agent.close();
  log.flush();
  return 0;
}
