import {
  Alert,
  Button,
  List,
  ListItem,
  Modal,
  ModalBody,
  ModalFooter,
  ModalHeader,
} from '@patternfly/react-core';
import type { Template } from '@vireo/api';
import { ApiError } from '@vireo/client';
import { type ReactNode, useState } from 'react';
import { FormattedMessage, useIntl } from 'react-intl';
import { Link } from 'react-router';
import { api } from '../../api';
import { ConfirmModal } from '../common/ConfirmModal';
import { useOperationCall } from '../vms/operationCall';

export interface DependentVm {
  id: string;
  name: string;
}

/** The thin clones a `template_in_use` refusal names (`details.vms`), else null. */
export function dependentsOf(err: unknown): DependentVm[] | null {
  if (!(err instanceof ApiError) || err.code !== 'template_in_use') return null;
  const vms = err.details?.vms;
  if (!Array.isArray(vms)) return [];
  return vms.flatMap((v) => {
    const o = v as { id?: unknown; name?: unknown };
    return typeof o.id === 'string' ? [{ id: o.id, name: typeof o.name === 'string' ? o.name : o.id }] : [];
  });
}

/**
 * Deleting a template: asks first; a refusal because thin clones rest on it shows those VMs
 * (linked, names as text), any other refusal its message.
 */
export function useTemplateDelete(after?: () => void) {
  const intl = useIntl();
  const call = useOperationCall();
  const [asking, setAsking] = useState<Pick<Template, 'id' | 'name'> | null>(null);
  const [blocked, setBlocked] = useState<{ name: string; vms: DependentVm[] } | null>(null);

  const remove = async (t: Pick<Template, 'id' | 'name'>) => {
    setBlocked(null);
    try {
      const res = await api.delete(`/templates/${encodeURIComponent(t.id)}`);
      if (res.kind === 'accepted') call.setOperationId(res.operation.id);
      after?.();
    } catch (err) {
      const vms = dependentsOf(err);
      if (vms) setBlocked({ name: t.name, vms });
      else await call.run('common.delete', () => Promise.reject(err));
    }
  };

  const view: ReactNode = (
    <>
      {blocked && (
        <Modal
          variant="small"
          isOpen
          onClose={() => setBlocked(null)}
          aria-labelledby="template-in-use-title"
        >
          <ModalHeader
            title={intl.formatMessage({ id: 'template.delete' })}
            labelId="template-in-use-title"
            titleIconVariant="danger"
          />
          <ModalBody>
            <Alert
              isInline
              isPlain
              variant="danger"
              data-testid="template-in-use"
              title={intl.formatMessage(
                { id: 'template.inUse' },
                { name: blocked.name, count: blocked.vms.length },
              )}
            >
              <List>
                {blocked.vms.map((v) => (
                  <ListItem key={v.id}>
                    <Link to={`/vms/${v.id}`}>{v.name}</Link>
                  </ListItem>
                ))}
              </List>
            </Alert>
          </ModalBody>
          <ModalFooter>
            <Button variant="primary" onClick={() => setBlocked(null)}>
              <FormattedMessage id="template.close" />
            </Button>
          </ModalFooter>
        </Modal>
      )}
      {asking && (
        <ConfirmModal
          isOpen
          danger
          title={intl.formatMessage({ id: 'template.delete' })}
          body={intl.formatMessage({ id: 'template.deleteBody' }, { name: asking.name })}
          confirmLabel={intl.formatMessage({ id: 'common.delete' })}
          onCancel={() => setAsking(null)}
          onConfirm={() => {
            const t = asking;
            setAsking(null);
            void remove(t);
          }}
        />
      )}
    </>
  );
  return { request: setAsking, view, operationId: call.operationId, blocked };
}
