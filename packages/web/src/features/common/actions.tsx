import { useQueryClient } from '@tanstack/react-query';
import { type ReactNode, useCallback, useState } from 'react';
import { useIntl } from 'react-intl';
import { ConfirmModal } from './ConfirmModal';
import { useNotify } from './notify';

/** Something a user can do to one object (or several at once, as a bulk action). */
export interface ObjectAction<T> {
  id: string;
  titleId: string;
  danger?: boolean;
  /** Ask first (delete, power off): the modal names the objects. */
  confirm?: boolean;
  isDisabled?(item: T): boolean;
  /** Only opens a dialog, which tells its own outcome: no toast from the runner. */
  opensDialog?: boolean;
  run(item: T): Promise<unknown>;
}

/**
 * Runs actions on objects: asks first when the action says so, runs it on each object, and tells
 * the outcome in a toast (an accepted operation's progress then shows in the operations drawer).
 */
export function useActionRunner<T extends { id: string; name?: string }>() {
  const intl = useIntl();
  const notify = useNotify();
  const queries = useQueryClient();
  const [pending, setPending] = useState<{ action: ObjectAction<T>; items: T[]; after?: () => void } | null>(
    null,
  );

  const execute = useCallback(
    async (action: ObjectAction<T>, items: T[], after?: () => void) => {
      if (action.opensDialog) {
        for (const i of items) void action.run(i);
        return;
      }
      const title = intl.formatMessage({ id: action.titleId });
      const results = await Promise.allSettled(items.map((i) => action.run(i)));
      const failed = results.flatMap((r, i) =>
        r.status === 'rejected' ? [{ item: items[i]!, err: r.reason }] : [],
      );
      const ok = items.length - failed.length;
      if (ok > 0) {
        notify({
          variant: 'success',
          title: intl.formatMessage(
            { id: 'action.accepted' },
            {
              action: title,
              names: items
                .filter((_, i) => results[i]?.status === 'fulfilled')
                .map((i) => i.name ?? i.id)
                .join(', '),
            },
          ),
        });
      }
      for (const f of failed) {
        notify({
          variant: 'danger',
          title: intl.formatMessage(
            { id: 'action.failed' },
            { action: title, name: f.item.name ?? f.item.id },
          ),
          detail: f.err instanceof Error ? f.err.message : String(f.err),
        });
      }
      void queries.invalidateQueries({ queryKey: ['list'] });
      void queries.invalidateQueries({ queryKey: ['object'] });
      after?.();
    },
    [intl, notify, queries],
  );

  const request = useCallback(
    (action: ObjectAction<T>, items: T[], after?: () => void) => {
      if (items.length === 0) return;
      if (action.confirm) setPending({ action, items, after });
      else void execute(action, items, after);
    },
    [execute],
  );

  const modal: ReactNode = pending && (
    <ConfirmModal
      isOpen
      danger={pending.action.danger}
      title={intl.formatMessage(
        { id: 'action.confirmTitle' },
        { action: intl.formatMessage({ id: pending.action.titleId }) },
      )}
      body={intl.formatMessage(
        { id: 'action.confirmBody' },
        {
          action: intl.formatMessage({ id: pending.action.titleId }),
          names: pending.items.map((i) => i.name ?? i.id).join(', '),
          count: pending.items.length,
        },
      )}
      confirmLabel={intl.formatMessage({ id: pending.action.titleId })}
      onCancel={() => setPending(null)}
      onConfirm={() => {
        const p = pending;
        setPending(null);
        void execute(p.action, p.items, p.after);
      }}
    />
  );

  return { request, modal };
}
