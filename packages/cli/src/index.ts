export { COMMANDS, NOUNS, REGISTRY } from './commands/index';
export { complete, type CompletionSources } from './completion/engine';
export { ConfigStore, defaultConfigDir } from './config/store';
export { CliError, describeError, ExitCode } from './framework/errors';
export { buildProgram, type Registry, runArgv } from './framework/program';
export { type Io, Session } from './framework/session';
export type { CommandSpec, NounSpec } from './framework/spec';
export { parseScript, tokenize } from './shell/tokenizer';
