import { assertPrintable } from './escape';
import type { LaunchPlan } from './types';

/**
 * Direct kernel boot. These three options take their argument verbatim (no `key=value` parsing), so
 * commas stay as they are; control characters are still refused.
 */
export function kernelArgs(plan: LaunchPlan): string[] {
  const { kernel } = plan.spec;
  if (!kernel) return [];
  const args = ['-kernel', assertPrintable(kernel.kernel, '/spec/kernel/kernel')];
  if (kernel.initrd) args.push('-initrd', assertPrintable(kernel.initrd, '/spec/kernel/initrd'));
  if (kernel.cmdline) args.push('-append', assertPrintable(kernel.cmdline, '/spec/kernel/cmdline'));
  return args;
}
