import { describe, expect, it } from 'vitest';
import { type VmAgentMethod, type VmDecisionInput, decideVmStep } from './vm-decide';

const base = (over: Partial<VmDecisionInput>): VmDecisionInput => ({
  desired: 'up',
  observed: 'down',
  action: 'start',
  actionDesired: 'up',
  connected: true,
  issued: new Set<VmAgentMethod>(),
  ...over,
});
const issued = (...m: VmAgentMethod[]) => new Set(m);

describe('decideVmStep()', () => {
  it.each<[string, Partial<VmDecisionInput>, ReturnType<typeof decideVmStep>]>([
    ['start a down VM', {}, { kind: 'call', method: 'vm.start' }],
    [
      'start issued, still down after reporting: failed',
      { issued: issued('vm.start') },
      { kind: 'fail', reason: 'went_down' },
    ],
    ['start issued, starting: wait', { observed: 'starting', issued: issued('vm.start') }, { kind: 'wait' }],
    ['up as desired: done', { observed: 'up' }, { kind: 'done' }],
    ['host disconnected: wait, never call', { connected: false }, { kind: 'wait' }],
    ['observed unknown: wait', { observed: 'unknown' }, { kind: 'wait' }],
    ['a later stop superseded the start', { desired: 'down' }, { kind: 'fail', reason: 'superseded' }],
    [
      'shutdown an up VM',
      { desired: 'down', actionDesired: 'down', action: 'shutdown', observed: 'up' },
      { kind: 'call', method: 'vm.shutdown' },
    ],
    [
      'stop an up VM',
      { desired: 'down', actionDesired: 'down', action: 'stop', observed: 'up' },
      { kind: 'call', method: 'vm.stop' },
    ],
    [
      'shutdown issued, powering down: wait',
      {
        desired: 'down',
        actionDesired: 'down',
        action: 'shutdown',
        observed: 'powering_down',
        issued: issued('vm.shutdown'),
      },
      { kind: 'wait' },
    ],
    [
      'stop overrides a powering-down guest',
      { desired: 'down', actionDesired: 'down', action: 'stop', observed: 'powering_down' },
      { kind: 'call', method: 'vm.stop' },
    ],
    [
      'down as desired: done',
      { desired: 'down', actionDesired: 'down', action: 'stop', observed: 'down' },
      { kind: 'done' },
    ],
    [
      'suspend an up VM',
      { desired: 'paused', actionDesired: 'paused', action: 'suspend', observed: 'up' },
      { kind: 'call', method: 'vm.pause' },
    ],
    [
      'suspend issued and paused: done',
      {
        desired: 'paused',
        actionDesired: 'paused',
        action: 'suspend',
        observed: 'paused',
        issued: issued('vm.pause'),
      },
      { kind: 'done' },
    ],
    ['resume a paused VM', { action: 'resume', observed: 'paused' }, { kind: 'call', method: 'vm.resume' }],
    ['reboot an up VM', { action: 'reboot', observed: 'up' }, { kind: 'call', method: 'vm.reboot' }],
    [
      'reboot issued and up again: done',
      { action: 'reboot', observed: 'up', issued: issued('vm.reboot') },
      { kind: 'done' },
    ],
    [
      'reboot that left the VM down: failed, no start',
      { action: 'reboot', observed: 'down', issued: issued('vm.reboot') },
      { kind: 'fail', reason: 'went_down' },
    ],
  ])('%s', (_what, over, step) => {
    expect(decideVmStep(base(over))).toEqual(step);
  });
});
