import { Button, type ButtonProps } from '@patternfly/react-core';
import type { Template } from '@vireo/api';
import { FormattedMessage } from 'react-intl';
import { Link } from 'react-router';
import { ExportButton } from '../exports/ExportDialog';

/**
 * A template's actions, on its page and in the list: a new VM from it and Export… (only once it is
 * `ok`) and delete (not while it is `locked`). `ids` gives the buttons their page ids (a list has many rows).
 */
export function TemplateButtons({
  t,
  onDelete,
  newVmVariant,
  ids = false,
}: {
  t: Pick<Template, 'id' | 'name' | 'state'>;
  onDelete(t: Pick<Template, 'id' | 'name'>): void;
  newVmVariant?: ButtonProps['variant'];
  ids?: boolean;
}) {
  return (
    <>
      <Button
        id={ids ? 'template-new-vm' : undefined}
        size="sm"
        variant={newVmVariant}
        isDisabled={t.state !== 'ok'}
        component={(p) => <Link {...p} to={`/vms/new?template=${t.id}`} />}
      >
        <FormattedMessage id="template.newVm" />
      </Button>
      <ExportButton
        object={{ kind: 'template', id: t.id, name: t.name }}
        isDisabled={t.state !== 'ok'}
        buttonId={ids ? 'template-export' : undefined}
      />
      <Button
        id={ids ? 'template-delete' : undefined}
        size="sm"
        variant="danger"
        isDisabled={t.state === 'locked'}
        onClick={() => onDelete(t)}
      >
        <FormattedMessage id="common.delete" />
      </Button>
    </>
  );
}
