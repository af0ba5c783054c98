import {
  Alert,
  Button,
  FileUpload,
  Form,
  FormGroup,
  Modal,
  ModalBody,
  ModalFooter,
  ModalHeader,
  Progress,
  ProgressMeasureLocation,
  ProgressVariant,
  TextInput,
} from '@patternfly/react-core';
import { useQueryClient } from '@tanstack/react-query';
import type { ImageTransfer } from '@vireo/api';
import { ApiError, isAbortError } from '@vireo/client';
import { useEffect, useRef, useState } from 'react';
import { FormattedMessage, useIntl } from 'react-intl';
import { FieldError, validated } from '../common/FieldError';
import { browserTransport, localResumeStore } from './transport';
import { isoNameProblem, isRetryable, safeIsoName, uploadIso, webCryptoSha256 } from './upload';

type Phase = 'pick' | 'hashing' | 'sending' | 'finalizing' | 'done' | 'failed' | 'cancelled';

/**
 * Uploads an ISO file from the browser into an ISO domain through the image-transfer API: checksum
 * (files up to 256 MiB), chunks of 8 MiB with a progress bar, resume of an interrupted upload of
 * the same file, cancel (the engine removes the partial file), and the engine's refusal — code and
 * message — when the host rejects the image.
 */
export function IsoUploadDialog({ domainId, onClose }: { domainId: string; onClose(): void }) {
  const intl = useIntl();
  const queries = useQueryClient();
  const [file, setFile] = useState<File | null>(null);
  const [name, setName] = useState('');
  const [phase, setPhase] = useState<Phase>('pick');
  const [done, setDone] = useState(0);
  const [error, setError] = useState<{ code: string; message: string } | null>(null);
  const abort = useRef<AbortController | null>(null);
  const transfer = useRef<ImageTransfer | null>(null);
  const errorObj = useRef<unknown>(null);
  const transport = useRef(browserTransport());

  // Leaving the dialog stops sending; the transfer stays resumable (same file, same name).
  useEffect(() => () => abort.current?.abort(), []);

  const nameProblem = file ? isoNameProblem(name) : null;
  // Only a broken connection can be resumed; a refused image starts a new transfer.
  const resumable = phase === 'failed' && (error?.code === 'network' || isRetryable(errorObj.current));
  const running = phase === 'hashing' || phase === 'sending' || phase === 'finalizing';

  const start = async () => {
    if (!file || nameProblem) return;
    const ctrl = new AbortController();
    abort.current = ctrl;
    setError(null);
    setPhase('hashing');
    try {
      const result = await uploadIso({
        file,
        isoFile: name,
        storageDomainId: domainId,
        transport: transport.current,
        store: localResumeStore,
        sha256: webCryptoSha256,
        signal: ctrl.signal,
        onTransfer: (t) => {
          transfer.current = t;
          setPhase('sending');
        },
        onProgress: (n, total) => {
          setDone(n);
          if (n >= total) setPhase('finalizing');
        },
      });
      transfer.current = result;
      setPhase('done');
      void queries.invalidateQueries({ queryKey: ['object', 'storage-domains', domainId] });
    } catch (err) {
      if (ctrl.signal.aborted || isAbortError(err)) return;
      errorObj.current = err;
      setPhase('failed');
      setError(
        err instanceof ApiError
          ? { code: err.code, message: err.message }
          : { code: 'network', message: err instanceof Error ? err.message : String(err) },
      );
    }
  };

  const cancel = async () => {
    abort.current?.abort();
    const t = transfer.current;
    setPhase('cancelled');
    if (t && t.state !== 'finished') {
      localResumeStore.remove(`vireo.upload.${domainId}.${name}.${file?.size ?? 0}`);
      await transport.current.cancel(t.id).catch(() => undefined);
    }
  };

  const size = file?.size ?? 0;
  const pct = size > 0 ? Math.round((done / size) * 100) : 0;
  const mib = (n: number) => intl.formatNumber(n / 2 ** 20, { maximumFractionDigits: 1 });
  return (
    <Modal variant="medium" isOpen onClose={onClose} aria-labelledby="iso-upload-title">
      <ModalHeader title={intl.formatMessage({ id: 'storage.iso.upload' })} labelId="iso-upload-title" />
      <ModalBody>
        <Form onSubmit={(e) => e.preventDefault()}>
          <FormGroup label={intl.formatMessage({ id: 'storage.iso.file' })} fieldId="iso-file" isRequired>
            <FileUpload
              id="iso-file"
              filename={file?.name ?? ''}
              hideDefaultPreview
              isDisabled={running}
              browseButtonText={intl.formatMessage({ id: 'storage.iso.browse' })}
              onFileInputChange={(_e, f) => {
                setFile(f);
                setName(safeIsoName(f.name));
                setDone(0);
                setPhase('pick');
                setError(null);
              }}
              onClearClick={() => {
                setFile(null);
                setName('');
              }}
            />
          </FormGroup>
          {file && (
            <FormGroup label={intl.formatMessage({ id: 'storage.iso.name' })} fieldId="iso-name" isRequired>
              <TextInput
                id="iso-name"
                value={name}
                isDisabled={running}
                onChange={(_e, x) => setName(x)}
                validated={validated(nameProblem ?? undefined)}
              />
              <FieldError
                message={
                  nameProblem ? intl.formatMessage({ id: `storage.iso.name.${nameProblem}` }) : undefined
                }
              />
            </FormGroup>
          )}
        </Form>
        {phase !== 'pick' && (
          <Progress
            data-testid="upload-progress"
            data-phase={phase}
            value={phase === 'done' ? 100 : pct}
            title={intl.formatMessage({ id: `storage.iso.phase.${phase}` })}
            measureLocation={ProgressMeasureLocation.outside}
            variant={
              phase === 'failed'
                ? ProgressVariant.danger
                : phase === 'done'
                  ? ProgressVariant.success
                  : undefined
            }
            helperText={`${mib(done)} / ${mib(size)} MiB`}
          />
        )}
        {error && (
          <Alert
            isInline
            variant="danger"
            data-testid="upload-error"
            data-code={error.code}
            title={intl.formatMessage({
              id: `storage.iso.error.${error.code}`,
              defaultMessage: error.message,
            })}
          >
            {error.message} ({error.code})
          </Alert>
        )}
      </ModalBody>
      <ModalFooter>
        {(phase === 'pick' || phase === 'failed' || phase === 'cancelled') && (
          <Button
            id="iso-upload-start"
            variant="primary"
            isDisabled={!file || nameProblem !== null}
            onClick={() => void start()}
          >
            <FormattedMessage id={resumable ? 'storage.iso.retry' : 'storage.iso.uploadAction'} />
          </Button>
        )}
        {running && (
          <Button id="iso-upload-cancel" variant="secondary" isDanger onClick={() => void cancel()}>
            <FormattedMessage id="storage.iso.cancel" />
          </Button>
        )}
        <Button id="iso-upload-close" variant="link" onClick={onClose}>
          <FormattedMessage id={phase === 'done' ? 'storage.close' : 'common.cancel'} />
        </Button>
      </ModalFooter>
    </Modal>
  );
}
