import { useState, type FormEvent } from 'react';
import { DroverApi } from '../../api';
import { useSubmit } from '../../components/useSubmit';

interface Props {
  /** Why the user is here again (their token stopped working), shown above the form. */
  notice: string | null;
  onSignedIn: (token: string) => void;
}

/** Sign-in with an API token: the admin token `drover up` prints, or one from `drover token create`. */
export function SignIn({ notice, onSignedIn }: Props) {
  const [token, setToken] = useState('');
  const { busy, error, submit } = useSubmit();

  const signIn = (event: FormEvent) => {
    event.preventDefault();
    const candidate = token.trim();
    if (!candidate) return;
    void submit(async () => {
      await new DroverApi(candidate).checkToken();
      onSignedIn(candidate);
    });
  };

  return (
    <main className="sign-in">
      <form className="sign-in-card" onSubmit={signIn} aria-labelledby="sign-in-title">
        <h1 id="sign-in-title">
          <span className="logo" aria-hidden="true">D</span> Drover
        </h1>
        <p className="muted">Sign in with an API token: the admin token <code>drover up</code> prints (also in <code>admin.token</code> in its data directory), or one made with <code>drover token create</code>.</p>
        {notice && (
          <p id="sign-in-notice" className="notice warning" role="status">
            {notice}
          </p>
        )}
        <label htmlFor="sign-in-token">API token</label>
        <input
          id="sign-in-token"
          type="password"
          autoComplete="current-password"
          spellCheck={false}
          placeholder="drv_…"
          value={token}
          onChange={(e) => setToken(e.target.value)}
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? 'sign-in-error' : undefined}
          autoFocus
        />
        {error && (
          <p id="sign-in-error" className="notice error" role="alert">
            {error.code === 'UNAUTHORIZED' ? 'That token was not accepted' : error.message}
            {error.detail ? `: ${error.detail}.` : '.'}
            {error.code === 'UNAUTHORIZED' && ' Check that you copied the whole token and that it has not been revoked.'}
          </p>
        )}
        <button id="sign-in-submit" type="submit" className="primary" disabled={busy || !token.trim()}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
