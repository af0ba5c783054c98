import {
  DescriptionList,
  Flex,
  FlexItem,
  PageSection,
  Spinner,
  Tab,
  Tabs,
  TabTitleText,
  Title,
} from '@patternfly/react-core';
import type { ReactNode } from 'react';
import { useIntl } from 'react-intl';
import { useParams, useSearchParams } from 'react-router';
import { type Collection, useLiveObject } from '../../api';
import { EventsTable } from '../events/EventsTable';

export interface DetailTab<T> {
  key: string;
  titleId: string;
  render(item: T): ReactNode;
}

/** The breadcrumb of an object page: the object's name, live. */
export function ObjectCrumb({ collection, id }: { collection: Collection; id: string }) {
  const o = useLiveObject<{ name: string }>(collection, id);
  return <>{o.data?.name ?? '…'}</>;
}

/**
 * An object's page: name, state and actions on top; a General tab with its fields, the object's own
 * tabs, and its Events. The tab is in the URL (`?tab=`), so it survives reloads and can be linked.
 */
export function DetailPage<T extends { id: string; name: string }>(props: {
  collection: Collection;
  general(item: T): ReactNode;
  badge?(item: T): ReactNode;
  actions?(item: T): ReactNode;
  tabs?: DetailTab<T>[];
}) {
  const { id = '' } = useParams();
  const intl = useIntl();
  const [params, setParams] = useSearchParams();
  const tab = params.get('tab') ?? 'general';
  const object = useLiveObject<T>(props.collection, id);
  if (object.isPending) return <Spinner />;
  if (object.isError) {
    return (
      <PageSection>
        <Title headingLevel="h1">{object.error.message}</Title>
      </PageSection>
    );
  }
  const o = object.data;
  const tabs = [
    <Tab
      key="general"
      eventKey="general"
      title={<TabTitleText>{intl.formatMessage({ id: 'tab.general' })}</TabTitleText>}
    >
      <DescriptionList isHorizontal>{props.general(o)}</DescriptionList>
    </Tab>,
    ...(props.tabs ?? []).map((t) => (
      <Tab
        key={t.key}
        eventKey={t.key}
        title={<TabTitleText>{intl.formatMessage({ id: t.titleId })}</TabTitleText>}
      >
        {t.render(o)}
      </Tab>
    )),
    <Tab
      key="events"
      eventKey="events"
      title={<TabTitleText>{intl.formatMessage({ id: 'tab.events' })}</TabTitleText>}
    >
      <EventsTable objectId={o.id} pageSize={20} />
    </Tab>,
  ];
  return (
    <PageSection>
      <Flex alignItems={{ default: 'alignItemsCenter' }}>
        <FlexItem>
          <Title headingLevel="h1" data-testid="object-name">
            {o.name}
          </Title>
        </FlexItem>
        {props.badge && <FlexItem>{props.badge(o)}</FlexItem>}
        {props.actions && (
          <FlexItem align={{ default: 'alignRight' }} className="vireo-actions">
            {props.actions(o)}
          </FlexItem>
        )}
      </Flex>
      <Tabs
        activeKey={tab}
        onSelect={(_e, k) => setParams({ tab: String(k) }, { replace: true })}
        mountOnEnter
        unmountOnExit
      >
        {tabs}
      </Tabs>
    </PageSection>
  );
}
