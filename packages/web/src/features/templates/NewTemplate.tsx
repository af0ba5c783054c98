import { Button } from '@patternfly/react-core';
import type { Vm } from '@vireo/client';
import { useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { FormattedMessage, useIntl } from 'react-intl';
import { useNavigate } from 'react-router';
import { api, refresh } from '../../api';
import { FormModal } from '../common/FormModal';
import { useNotify } from '../common/notify';

/**
 * "Make template" on a VM page: offered when the VM is down and has disks (the engine's rule);
 * the template's page then shows the copy's progress (the template is `locked` until it is done).
 */
export function NewTemplateButton({ vm }: { vm: Vm }) {
  const intl = useIntl();
  const navigate = useNavigate();
  const notify = useNotify();
  const queries = useQueryClient();
  const [open, setOpen] = useState(false);
  return (
    <>
      <Button
        id="vm-make-template"
        size="sm"
        variant="secondary"
        isDisabled={vm.state !== 'down' || vm.disks.length === 0}
        onClick={() => setOpen(true)}
      >
        <FormattedMessage id="template.makeFromVm" />
      </Button>
      {open && (
        <FormModal
          titleId="template.makeFromVm"
          submitId="common.create"
          fields={[
            { name: 'name', labelId: 'field.name', required: true },
            { name: 'description', labelId: 'field.description', type: 'textarea' },
          ]}
          initial={{ name: `${vm.name}-template`, description: '' }}
          onClose={() => setOpen(false)}
          onSubmit={async (v) => {
            const res = await api.request<{ template: { id: string } }>('POST', '/templates', {
              body: { vm_id: vm.id, name: v.name?.trim() ?? '', description: v.description ?? '' },
            });
            await refresh(queries, 'templates');
            notify({
              variant: 'success',
              title: intl.formatMessage({ id: 'template.creating' }, { name: v.name ?? '' }),
            });
            navigate(`/templates/${res.body.template.id}`);
          }}
        />
      )}
    </>
  );
}
