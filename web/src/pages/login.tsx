/** The login form: the daemon's token (printed by `spacedrive daemon token`) for a session cookie. */
import { useState } from 'preact/hooks';
import { ApiError, login } from '../api.js';

export function LoginPage({ problem, onLoggedIn }: { problem: string | null; onLoggedIn: () => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(problem);
  const [busy, setBusy] = useState(false);
  return (
    <main class="login" id="main">
      <h1>Spacedrive dashboard</h1>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(null);
          try {
            await login(token.trim());
            onLoggedIn();
          } catch (err) {
            setError(err instanceof ApiError && err.status === 401 ? 'That token is not the daemon’s token.' : (err as Error).message);
          } finally {
            setBusy(false);
          }
        }}
      >
        <label for="token">Token</label>
        <input id="token" name="token" type="password" autocomplete="current-password" required value={token} onInput={(e) => setToken((e.currentTarget as HTMLInputElement).value)} aria-describedby="token-help" />
        <small id="token-help" class="help">
          Print it on the daemon’s machine with <code>spacedrive daemon token</code>.
        </small>
        {error ? (
          <p class="error" role="alert">
            {error}
          </p>
        ) : null}
        <button type="submit" disabled={busy || token.trim() === ''}>
          {busy ? 'Logging in…' : 'Log in'}
        </button>
      </form>
    </main>
  );
}
