import {
  ActionGroup,
  Alert,
  Button,
  Form,
  FormGroup,
  LoginPage as PfLoginPage,
  TextInput,
} from '@patternfly/react-core';
import { ApiError } from '@vireo/client';
import { type FormEvent, useState } from 'react';
import { useIntl } from 'react-intl';
import { Navigate, useLocation, useNavigate } from 'react-router';
import { useAuth } from '../../app/auth';
import { LanguageSwitch } from '../../app/LanguageSwitch';

/** Where to go after the login: the `next` the app was sent away from, if it is a portal path. */
export function safeNext(search: string): string {
  const next = new URLSearchParams(search).get('next');
  // Only same-origin paths: "//evil.example" or "https://…" would turn the login into a redirector.
  return next?.startsWith('/') && !next.startsWith('//') && !next.startsWith('/login') ? next : '/';
}

export function LoginPage() {
  const intl = useIntl();
  const { user, reason, login } = useAuth();
  const location = useLocation();
  const navigate = useNavigate();
  const [username, setUsername] = useState('admin@internal');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const next = safeNext(location.search);

  if (user) return <Navigate to={next} replace />;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await login(username, password);
      navigate(next, { replace: true });
    } catch (err) {
      setError(
        err instanceof ApiError && err.status === 401
          ? intl.formatMessage({ id: 'login.invalid' })
          : err instanceof Error
            ? err.message
            : String(err),
      );
    } finally {
      setBusy(false);
    }
  };

  return (
    <PfLoginPage
      brandImgSrc=""
      loginTitle={intl.formatMessage({ id: 'login.title' })}
      loginSubtitle={intl.formatMessage({ id: 'login.subtitle' })}
      footerListItems={<LanguageSwitch />}
    >
      {reason === 'expired' && (
        <Alert isInline variant="warning" title={intl.formatMessage({ id: 'login.expired' })} />
      )}
      {reason === 'logged_out' && (
        <Alert isInline variant="info" title={intl.formatMessage({ id: 'login.loggedOut' })} />
      )}
      {error && <Alert isInline variant="danger" title={error} data-testid="login-error" />}
      <Form onSubmit={submit}>
        <FormGroup label={intl.formatMessage({ id: 'login.username' })} fieldId="username" isRequired>
          <TextInput
            id="username"
            name="username"
            autoComplete="username"
            value={username}
            onChange={(_e, v) => setUsername(v)}
            isRequired
          />
        </FormGroup>
        <FormGroup label={intl.formatMessage({ id: 'login.password' })} fieldId="password" isRequired>
          <TextInput
            id="password"
            name="password"
            type="password"
            autoComplete="current-password"
            value={password}
            onChange={(_e, v) => setPassword(v)}
            isRequired
          />
        </FormGroup>
        <ActionGroup>
          <Button type="submit" variant="primary" isBlock isLoading={busy} isDisabled={busy}>
            {intl.formatMessage({ id: 'login.submit' })}
          </Button>
        </ActionGroup>
      </Form>
    </PfLoginPage>
  );
}
