import { Button } from '@patternfly/react-core';
import type { Dispatch, SetStateAction } from 'react';
import { FormattedMessage } from 'react-intl';

/**
 * Back and forward through a cursor-paged list. `cursors` is the stack of page cursors seen so far
 * (the first page's is `undefined`); the API's `next_cursor` is pushed to go forward.
 */
export function PageButtons(props: {
  cursors: (string | undefined)[];
  setCursors: Dispatch<SetStateAction<(string | undefined)[]>>;
  next: string | undefined;
  /** Message ids: "previous"/"next" for lists, "newer"/"older" for the event log. */
  backId: string;
  forwardId: string;
}) {
  const { cursors, setCursors, next } = props;
  return (
    <>
      <Button
        variant="secondary"
        isDisabled={cursors.length <= 1}
        onClick={() => setCursors((c) => c.slice(0, -1))}
      >
        <FormattedMessage id={props.backId} />
      </Button>{' '}
      <Button variant="secondary" isDisabled={!next} onClick={() => next && setCursors((c) => [...c, next])}>
        <FormattedMessage id={props.forwardId} />
      </Button>
    </>
  );
}
