import { Progress, ProgressMeasureLocation, ProgressVariant } from '@patternfly/react-core';
import type { Operation } from '@vireo/client';
import { TERMINAL_OPERATION_STATES } from '@vireo/client';
import { type ReactNode, useEffect, useRef } from 'react';
import { type IntlShape, useIntl } from 'react-intl';
import { useLiveObject } from '../../api';

/** Props of {@link OperationProgress}. Stable: other features build on them. */
export interface OperationProgressProps {
  /** The operation to follow (the `id` of a `202 Accepted` answer's `operation`). */
  operationId: string;
  /** Text above the bar; by default the operation's localized type ("Starting VM"). */
  title?: ReactNode;
  /** Bar size; `sm` by default (fits a table row). */
  size?: 'sm' | 'md' | 'lg';
  /** One line, no helper text: for table cells ("Starting… 40 %"). */
  inline?: boolean;
  /** Render nothing once the operation succeeded (the row goes back to its state label). */
  hideWhenDone?: boolean;
  /** Called once, when the operation reaches a final state (succeeded, failed or cancelled). */
  onSettled?: (op: Operation) => void;
}

export function variantOf(op: Pick<Operation, 'state'>): ProgressVariant | undefined {
  if (op.state === 'failed') return ProgressVariant.danger;
  if (op.state === 'cancelled') return ProgressVariant.warning;
  if (op.state === 'succeeded') return ProgressVariant.success;
  return undefined;
}

/** The operation's type in the reader's language ("vm.start" → "Starting VM"), else the raw type. */
export function operationTitle(intl: IntlShape, type: string): string {
  return intl.formatMessage({ id: `operation.type.${type}`, defaultMessage: type });
}

/** What to show under the bar: the error, else what it is doing now, else its state. */
export function operationDetail(intl: IntlShape, op: Operation): string {
  return (
    op.error?.message ??
    op.progress_message ??
    intl.formatMessage({ id: `operation.state.${op.state}`, defaultMessage: op.state })
  );
}

/** 0..100 for the bar; a succeeded operation is full whatever its handler last reported. */
export function percentOf(op: Pick<Operation, 'state' | 'progress'>): number {
  return Math.round((op.state === 'succeeded' ? 1 : op.progress) * 100);
}

/**
 * A progress bar for one operation that moves with the engine's live `operation.progress` frames
 * (applied to the query cache by the portal's event stream: no polling) and ends in the
 * operation's outcome. Use it wherever an action answered `202 Accepted`:
 * `<OperationProgress operationId={accepted.operation.id} inline hideWhenDone />`.
 */
export function OperationProgress({
  operationId,
  title,
  size = 'sm',
  inline = false,
  hideWhenDone = false,
  onSettled,
}: OperationProgressProps) {
  const query = useLiveObject<Operation>('operations', operationId);
  const op = query.data;
  const settled = useRef<string | undefined>(undefined);
  const done = op !== undefined && TERMINAL_OPERATION_STATES.includes(op.state);
  useEffect(() => {
    if (!op || !done || settled.current === op.id) return;
    settled.current = op.id;
    onSettled?.(op);
  }, [op, done, onSettled]);

  if (!op) return null;
  if (hideWhenDone && op.state === 'succeeded') return null;
  return <OperationBar op={op} title={title} size={size} inline={inline} />;
}

/** Props of {@link OperationBar}: an operation already at hand (e.g. a list item). */
export interface OperationBarProps {
  op: Operation;
  title?: ReactNode | undefined;
  size?: 'sm' | 'md' | 'lg' | undefined;
  inline?: boolean | undefined;
}

/** The bar of one operation object (no fetching); {@link OperationProgress} fetches by id. */
export function OperationBar({ op, title, size = 'sm', inline = false }: OperationBarProps) {
  const intl = useIntl();
  const name = operationTitle(intl, op.type);
  const detail = operationDetail(intl, op);
  const label = typeof title === 'string' ? title : name;
  const percent = percentOf(op);
  return (
    <Progress
      data-testid="operation-progress"
      data-operation-id={op.id}
      data-state={op.state}
      data-progress={percent}
      value={percent}
      title={inline ? undefined : (title ?? name)}
      size={size}
      measureLocation={inline ? ProgressMeasureLocation.outside : ProgressMeasureLocation.top}
      variant={variantOf(op)}
      helperText={inline ? undefined : detail}
      label={inline ? `${detail} ${percent} %` : undefined}
      aria-label={inline ? `${label}: ${detail}` : undefined}
    />
  );
}
