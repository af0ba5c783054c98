import type { MutationResult, Operation, VireoClient } from '@vireo/client';
import { CliError, ExitCode, usageError } from '../../framework/errors';
import type { CommandContext, OptionSpec } from '../../framework/spec';
import { ProgressReporter } from '../../output/progress';
import { sanitize } from '../../output/text';
import { printObject } from './output';

/** `--wait` and `--timeout` for commands whose work may outlive the request. */
export const WAIT_OPTIONS: readonly OptionSpec[] = [
  { flags: '--wait', description: 'follow the operation until it ends (progress on stderr)' },
  { flags: '--timeout <seconds>', description: 'with --wait: give up after this many seconds' },
];

export function parseTimeout(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw usageError(`--timeout must be a positive number of seconds, not ${JSON.stringify(value)}`);
  return n * 1000;
}

/**
 * Follows an Operation with a progress display until it ends. Succeeded → the final Operation;
 * failed or cancelled → CliError with the Operation's error code and exit 5; Ctrl-C → exit 130
 * (the Operation itself goes on in the engine).
 */
export async function followOperation(
  ctx: CommandContext,
  client: VireoClient,
  op: Operation,
): Promise<Operation> {
  const progress = new ProgressReporter(ctx.session.io.stderr);
  let final: Operation;
  try {
    final = await client.waitForOperation(op.id, {
      signal: ctx.session.signal,
      timeoutMs: parseTimeout(ctx.opts.timeout),
      onProgress: (o) => progress.update(o),
    });
  } catch (err) {
    progress.finish();
    if ((err as { code?: string }).code === 'aborted') {
      throw new CliError(
        'interrupted',
        `stopped waiting; operation ${op.id} goes on (follow it with: vireo operation wait ${op.id})`,
        ExitCode.interrupted,
      );
    }
    throw err;
  }
  progress.finish();
  if (final.state !== 'succeeded') {
    const why = final.error?.message ? `: ${sanitize(final.error.message)}` : '';
    throw new CliError(
      final.error?.code ?? `operation_${final.state}`,
      `operation ${final.id} (${sanitize(final.type)}) ${final.state}${why}`,
      ExitCode.operationFailed,
    );
  }
  return final;
}

/**
 * Reports the outcome of a create/update/delete/action. A finished call prints the object (or
 * `done` to stderr when there is none); an accepted one prints the Operation, or follows it with
 * --wait and then prints what `afterSuccess` returns (e.g. the created object).
 */
export async function finishMutation<T>(
  ctx: CommandContext,
  client: VireoClient,
  result: MutationResult<T>,
  messages: { done: string; afterSuccess?: (op: Operation) => Promise<unknown> },
): Promise<number> {
  if (result.kind === 'done') {
    if (result.value !== undefined && result.value !== null && typeof result.value === 'object') {
      printObject(ctx, result.value);
    }
    ctx.session.info(messages.done);
    return ExitCode.ok;
  }
  if (!ctx.opts.wait) {
    printObject(ctx, result.operation);
    ctx.session.info(
      `operation ${result.operation.id} started; follow it with: vireo operation wait ${result.operation.id}`,
    );
    return ExitCode.ok;
  }
  const final = await followOperation(ctx, client, result.operation);
  const shown = messages.afterSuccess ? await messages.afterSuccess(final) : final;
  if (shown !== undefined) printObject(ctx, shown);
  ctx.session.info(messages.done);
  return ExitCode.ok;
}

/**
 * Parses repeated `--set field=value` into a body patch. Values are JSON when they parse as JSON
 * (`--set cpus=2`, `--set ha=true`, `--set 'tags=["a"]'`), else strings; dotted fields nest.
 */
export function parseSet(values: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const raw of (values as string[] | undefined) ?? []) {
    const eq = raw.indexOf('=');
    if (eq <= 0) throw usageError(`--set expects field=value, not ${JSON.stringify(raw)}`);
    const path = raw.slice(0, eq).split('.');
    if (path.some((p) => !/^[a-z][a-z0-9_]*$/.test(p))) {
      throw usageError(
        `invalid field name ${JSON.stringify(raw.slice(0, eq))} (snake_case, dots for nesting)`,
      );
    }
    const text = raw.slice(eq + 1);
    let value: unknown = text;
    try {
      value = JSON.parse(text);
    } catch {
      // not JSON: keep the string
    }
    let target = out;
    for (const p of path.slice(0, -1)) {
      const next = target[p];
      if (next === undefined) target[p] = {};
      else if (typeof next !== 'object' || next === null || Array.isArray(next)) {
        throw usageError(`--set ${raw}: ${p} is already a value`);
      }
      target = target[p] as Record<string, unknown>;
    }
    target[path[path.length - 1]!] = value;
  }
  return out;
}

export const SET_OPTION: OptionSpec = {
  flags: '--set <field=value>',
  description: 'set any other field (JSON values allowed; repeatable)',
  repeatable: true,
};
