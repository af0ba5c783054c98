import { EmptyState, EmptyStateBody, PageSection } from '@patternfly/react-core';
import { FormattedMessage } from 'react-intl';

/** A page whose feature is not in the engine yet: says so rather than showing an empty list. */
export function Placeholder({ titleId }: { titleId: string }) {
  return (
    <PageSection>
      <EmptyState titleText={<FormattedMessage id={titleId} />} headingLevel="h1">
        <EmptyStateBody>
          <FormattedMessage id="common.coming" />
        </EmptyStateBody>
      </EmptyState>
    </PageSection>
  );
}
