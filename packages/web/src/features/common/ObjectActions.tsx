import { Button } from '@patternfly/react-core';
import { FormattedMessage } from 'react-intl';
import { type ObjectAction, useActionRunner } from './actions';

/** An object's actions as buttons (detail pages). */
export function ObjectActions<T extends { id: string; name?: string }>({
  item,
  actions,
  after,
}: {
  item: T;
  actions: ObjectAction<T>[];
  after?: Record<string, () => void>;
}) {
  const runner = useActionRunner<T>();
  return (
    <>
      {actions.map((a) => (
        <Button
          key={a.id}
          id={`action-${a.id}`}
          size="sm"
          variant={a.danger ? 'danger' : 'secondary'}
          isDisabled={a.isDisabled?.(item)}
          onClick={() => runner.request(a, [item], after?.[a.id])}
        >
          <FormattedMessage id={a.titleId} />
        </Button>
      ))}
      {runner.modal}
    </>
  );
}
