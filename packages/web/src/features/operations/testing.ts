import type { Operation, OperationProgressFrame } from '@vireo/client';

/** Test fixtures (component tests only; nothing in the portal imports this file). */
export const OPERATION_ID = '0b3c54d4-29a5-4c7a-9f0e-2c8f6a1d7e01';
export const TARGET_ID = '6f1c2a50-5b4e-4b8e-9a53-8f0f8b2f0d11';

export function operation(over: Partial<Operation> = {}): Operation {
  const now = new Date().toISOString();
  return {
    id: OPERATION_ID,
    type: 'vm.start',
    state: 'running',
    progress: 0,
    progress_message: null,
    target: { kind: 'vm', id: TARGET_ID },
    input: {},
    result: null,
    error: null,
    cancel_requested: false,
    created_by: null,
    created_at: now,
    updated_at: now,
    started_at: now,
    finished_at: null,
    ...over,
  };
}

export function frame(over: Partial<OperationProgressFrame> = {}): OperationProgressFrame {
  return {
    id: OPERATION_ID,
    type: 'vm.start',
    target_kind: 'vm',
    target_id: TARGET_ID,
    progress: 0.4,
    message: 'booting',
    ...over,
  };
}
