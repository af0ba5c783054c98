import { useQueryClient } from '@tanstack/react-query';
import type { MutationResult, Operation } from '@vireo/client';
import { useCallback, useState } from 'react';
import { useIntl } from 'react-intl';
import { useLiveObject } from '../../api';
import { useNotify } from '../common/notify';
import { OperationProgress } from '../operations';

/**
 * Runs one API call for a tab's action: a refusal becomes a danger toast with the engine's message;
 * an accepted operation is remembered so the tab can show its progress ({@link OperationState}).
 */
export function useOperationCall() {
  const intl = useIntl();
  const notify = useNotify();
  const queries = useQueryClient();
  const [operationId, setOperationId] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const run = useCallback(
    async <T,>(
      titleId: string,
      call: () => Promise<MutationResult<T>>,
    ): Promise<MutationResult<T> | null> => {
      setBusy(true);
      try {
        const res = await call();
        if (res.kind === 'accepted') setOperationId(res.operation.id);
        return res;
      } catch (err) {
        notify({
          variant: 'danger',
          title: intl.formatMessage(
            { id: 'vmx.actionFailed' },
            { action: intl.formatMessage({ id: titleId }) },
          ),
          detail: err instanceof Error ? err.message : String(err),
        });
        return null;
      } finally {
        setBusy(false);
        void queries.invalidateQueries({ queryKey: ['object'] });
        void queries.invalidateQueries({ queryKey: ['list'] });
      }
    },
    [intl, notify, queries],
  );
  return { run, busy, operationId, setOperationId };
}

/**
 * An accepted operation's progress and outcome (the operations feature's bar, live from the event
 * stream: no polling), marked with its state for tests and styles.
 */
export function OperationState({ operationId }: { operationId: string }) {
  // The same cached query the bar reads: no extra request.
  const op = useLiveObject<Operation>('operations', operationId);
  return (
    <div data-testid="operation-state" data-state={op.data?.state} className="vireo-tab-body">
      <OperationProgress operationId={operationId} />
    </div>
  );
}
