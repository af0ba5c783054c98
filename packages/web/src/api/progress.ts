import type { QueryClient } from '@tanstack/react-query';
import type { Operation, OperationProgressFrame, Page } from '@vireo/client';
import { TERMINAL_OPERATION_STATES } from '@vireo/client';
import { listKey, objectKey } from './keys';

/**
 * Folds one live progress frame into an operation. A finished operation keeps its final state (a
 * frame may arrive after the final event's refetch); a pending one is running once it reports.
 * Returns the same object when nothing changes, so React Query keeps its cached reference.
 */
export function applyProgress(op: Operation, frame: OperationProgressFrame): Operation {
  if (op.id !== frame.id || TERMINAL_OPERATION_STATES.includes(op.state)) return op;
  const progress = Math.min(1, Math.max(0, frame.progress));
  const message = frame.message ?? op.progress_message;
  const state = op.state === 'pending' ? 'running' : op.state;
  if (op.progress === progress && op.progress_message === message && op.state === state) return op;
  return { ...op, state, progress, progress_message: message };
}

function isPage(value: unknown): value is Page<Operation> {
  return !!value && typeof value === 'object' && Array.isArray((value as Page<Operation>).items);
}

/**
 * Writes a frame into every cached answer that shows its operation (the operation's own query and
 * the operations lists) without a refetch: a moving bar costs no request.
 */
export function applyProgressToCache(queries: QueryClient, frame: OperationProgressFrame): void {
  queries.setQueryData<Operation>(objectKey('operations', frame.id), (op) =>
    op ? applyProgress(op, frame) : op,
  );
  for (const [key, data] of queries.getQueriesData<Page<Operation>>({ queryKey: listKey('operations') })) {
    if (!isPage(data) || !data.items.some((o) => o.id === frame.id)) continue;
    const items = data.items.map((o) => applyProgress(o, frame));
    if (items.every((o, i) => o === data.items[i])) continue;
    queries.setQueryData(key, { ...data, items });
  }
}
