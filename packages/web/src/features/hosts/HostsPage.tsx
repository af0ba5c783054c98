import {
  Alert,
  Button,
  ClipboardCopy,
  FormGroup,
  FormSelect,
  FormSelectOption,
  Modal,
  ModalBody,
  ModalHeader,
  PageSection,
  Title,
  ToggleGroup,
  ToggleGroupItem,
} from '@patternfly/react-core';
import { HOST_STATES } from '@vireo/api';
import type { Host, JoinToken } from '@vireo/client';
import { useState } from 'react';
import { FormattedMessage, useIntl } from 'react-intl';
import { Link } from 'react-router';
import { api } from '../../api';
import type { ObjectAction } from '../common/actions';
import { When } from '../common/format';
import { type FormField, FormModal } from '../common/FormModal';
import { RefLink, useNames, useOptions } from '../common/lookups';
import { type Filter, ResourceTable } from '../common/ResourceTable';
import { StateLabel } from '../common/StateLabel';

export const HOST_ACTIONS: ObjectAction<Host>[] = [
  {
    id: 'maintenance',
    titleId: 'host.action.maintenance',
    isDisabled: (h) => h.state === 'maintenance',
    run: (h) => api.action(`/hosts/${h.id}`, 'maintenance'),
  },
  {
    id: 'activate',
    titleId: 'host.action.activate',
    isDisabled: (h) => h.state !== 'maintenance',
    run: (h) => api.action(`/hosts/${h.id}`, 'activate'),
  },
  {
    id: 'remove',
    titleId: 'host.action.remove',
    danger: true,
    confirm: true,
    run: (h) => api.delete(`/hosts/${h.id}`),
  },
];

/**
 * Adding a host: over SSH (the engine logs in, installs and enrolls the agent; the credentials
 * stay in the engine's memory for the deploy only), or with a join token the host's administrator
 * uses with `vireo-agent join`.
 */
function AddHost({ onClose }: { onClose(): void }) {
  const intl = useIntl();
  const clusters = useOptions('clusters');
  const [mode, setMode] = useState<'ssh' | 'token'>('ssh');
  const [cluster, setCluster] = useState('');
  const [token, setToken] = useState<JoinToken | null>(null);
  const [error, setError] = useState<string | null>(null);
  const clusterId = cluster || clusters[0]?.value || '';
  const fields: FormField[] = [
    { name: 'name', labelId: 'field.name', required: true },
    { name: 'address', labelId: 'field.address', required: true },
    { name: 'cluster_id', labelId: 'field.cluster', type: 'select', options: clusters, required: true },
    { name: 'ssh.user', labelId: 'host.sshUser', required: true },
    { name: 'ssh.port', labelId: 'host.sshPort', type: 'number' },
    { name: 'ssh.password', labelId: 'host.sshPassword', type: 'password' },
    { name: 'ssh.private_key', labelId: 'host.sshKey', type: 'textarea' },
    { name: 'ssh.host_key_sha256', labelId: 'host.sshHostKey' },
  ];
  const switcher = (
    <ToggleGroup aria-label={intl.formatMessage({ id: 'host.add' })}>
      <ToggleGroupItem
        buttonId="host-mode-ssh"
        text={intl.formatMessage({ id: 'host.viaSsh' })}
        isSelected={mode === 'ssh'}
        onChange={() => setMode('ssh')}
      />
      <ToggleGroupItem
        buttonId="host-mode-token"
        text={intl.formatMessage({ id: 'host.viaToken' })}
        isSelected={mode === 'token'}
        onChange={() => setMode('token')}
      />
    </ToggleGroup>
  );
  if (mode === 'ssh') {
    if (clusters.length === 0) return null;
    return (
      <FormModal
        titleId="host.add"
        submitId="host.add"
        fields={fields}
        initial={{
          name: '',
          address: '',
          cluster_id: clusterId,
          'ssh.user': 'root',
          'ssh.port': '22',
          'ssh.password': '',
          'ssh.private_key': '',
          'ssh.host_key_sha256': '',
        }}
        onClose={onClose}
        onSubmit={(v) => {
          const ssh: Record<string, unknown> = { user: v['ssh.user'] };
          if (v['ssh.port']?.trim())
            ssh.port = /^\d+$/.test(v['ssh.port'].trim()) ? Number(v['ssh.port']) : v['ssh.port'];
          if (v['ssh.password']) ssh.password = v['ssh.password'];
          if (v['ssh.private_key']?.trim()) ssh.private_key = v['ssh.private_key'];
          if (v['ssh.host_key_sha256']?.trim()) ssh.host_key_sha256 = v['ssh.host_key_sha256'].trim();
          return api.create('/hosts', { name: v.name, address: v.address, cluster_id: v.cluster_id, ssh });
        }}
      >
        {switcher}
      </FormModal>
    );
  }
  const command = token
    ? `vireo-agent join --engine ${window.location.origin} --token-file ./join-token --ca-fingerprint ${token.ca_fingerprint} --address <this host's address> --name <host name>`
    : '';
  return (
    <Modal variant="medium" isOpen onClose={onClose} aria-labelledby="join-title">
      <ModalHeader title={intl.formatMessage({ id: 'host.add' })} labelId="join-title" />
      <ModalBody>
        {switcher}
        <FormGroup label={intl.formatMessage({ id: 'field.cluster' })} fieldId="join-cluster">
          <FormSelect id="join-cluster" value={clusterId} onChange={(_e, v) => setCluster(v)}>
            {clusters.map((c) => (
              <FormSelectOption key={c.value} value={c.value} label={c.label} />
            ))}
          </FormSelect>
        </FormGroup>
        {error && <Alert isInline variant="danger" title={error} />}
        {!token ? (
          <Button
            id="create-join-token"
            onClick={async () => {
              try {
                const res = await api.create<JoinToken>('/hosts/join-tokens', { cluster_id: clusterId });
                if (res.kind === 'done' && res.value) setToken(res.value);
              } catch (err) {
                setError(err instanceof Error ? err.message : String(err));
              }
            }}
          >
            <FormattedMessage id="host.createToken" />
          </Button>
        ) : (
          <>
            <Alert isInline variant="info" title={intl.formatMessage({ id: 'host.tokenOnce' })} />
            <FormGroup label={intl.formatMessage({ id: 'host.token' })} fieldId="join-token">
              <ClipboardCopy isReadOnly id="join-token">
                {token.token}
              </ClipboardCopy>
            </FormGroup>
            <FormGroup label={intl.formatMessage({ id: 'host.joinCommand' })} fieldId="join-command">
              <ClipboardCopy isReadOnly isCode id="join-command">
                {command}
              </ClipboardCopy>
            </FormGroup>
            <p>
              <FormattedMessage id="host.tokenExpires" /> <When value={token.expires_at} />
            </p>
          </>
        )}
      </ModalBody>
    </Modal>
  );
}

export function HostsPage() {
  const intl = useIntl();
  const [adding, setAdding] = useState(false);
  const clusters = useNames('clusters');
  const clusterOptions = useOptions('clusters');
  const filters: Filter<Host>[] = [
    { id: 'cluster', titleId: 'field.cluster', options: clusterOptions, toQuery: (v) => ({ cluster_id: v }) },
    {
      id: 'state',
      titleId: 'field.state',
      options: HOST_STATES.map((s) => ({
        value: s,
        label: intl.formatMessage({ id: `state.${s}`, defaultMessage: s }),
      })),
      match: (h, v) => h.state === v,
    },
  ];
  return (
    <PageSection>
      <Title headingLevel="h1">
        <FormattedMessage id="nav.hosts" />
      </Title>
      <ResourceTable<Host>
        collection="hosts"
        ariaLabelId="nav.hosts"
        filters={filters}
        rowActions={HOST_ACTIONS}
        bulkActions={HOST_ACTIONS.filter((a) => a.id !== 'remove')}
        toolbar={
          <Button id="add-host" onClick={() => setAdding(true)}>
            <FormattedMessage id="host.add" />
          </Button>
        }
        columns={[
          {
            id: 'name',
            titleId: 'field.name',
            sort: 'name',
            render: (h) => <Link to={`/hosts/${h.id}`}>{h.name}</Link>,
          },
          { id: 'state', titleId: 'field.state', render: (h) => <StateLabel state={h.state} /> },
          {
            id: 'address',
            titleId: 'field.address',
            render: (h) => <span className="vireo-mono">{h.address}</span>,
          },
          {
            id: 'cluster',
            titleId: 'field.cluster',
            render: (h) => <RefLink names={clusters} path="clusters" id={h.cluster_id} />,
          },
          { id: 'agent', titleId: 'field.agentVersion', render: (h) => h.agent_version ?? '—' },
          {
            id: 'heartbeat',
            titleId: 'field.lastHeartbeat',
            render: (h) => <When value={h.last_heartbeat_at} />,
          },
        ]}
      />
      {adding && <AddHost onClose={() => setAdding(false)} />}
    </PageSection>
  );
}
