import { runCli } from './cli';

// The composition lives in cli/serve.ts (startAgent), so tests can run the same agent in-process.
process.exitCode = await runCli(process.argv.slice(2));
