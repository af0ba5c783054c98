import { PageSection, Title } from '@patternfly/react-core';
import { FormattedMessage } from 'react-intl';
import { EventsTable } from './EventsTable';

export function EventsPage() {
  return (
    <PageSection>
      <Title headingLevel="h1">
        <FormattedMessage id="nav.events" />
      </Title>
      <EventsTable />
    </PageSection>
  );
}
