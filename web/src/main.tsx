/**
 * The dashboard's shell: asks the daemon whether this browser has a session (`GET /v1/session`),
 * shows the login form when not, else the navigation, the theme switch and the current page.
 * One event stream and one job store serve every page for the life of the session.
 */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, getSession, logout, onUnauthorized } from './api.js';
import { connectEvents, disconnectEvents, eventsState, onEventsState } from './events.js';
import { jobsStore } from './jobs-store.js';
import { linkClick, navigate, usePath } from './router.js';
import { LoginPage } from './pages/login.js';
import { JobsPage } from './pages/jobs.js';
import { JobPage } from './pages/job.js';
import { ExtensionsPage } from './pages/extensions.js';
import { MethodsPage } from './pages/methods.js';
import { OverviewPage } from './pages/overview.js';
import './styles.css';

type Theme = 'light' | 'dark' | 'system';

function applyTheme(theme: Theme): void {
  if (theme === 'system') delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
}

function initialTheme(): Theme {
  const t = localStorage.getItem('sd-theme');
  return t === 'light' || t === 'dark' ? t : 'system';
}

function ThemeSwitch() {
  const [theme, setTheme] = useState<Theme>(initialTheme);
  const next: Record<Theme, Theme> = { system: 'light', light: 'dark', dark: 'system' };
  return (
    <button
      type="button"
      class="ghost"
      aria-label={`Colour theme: ${theme}. Switch to ${next[theme]}`}
      title="Switch between light, dark and the system's theme"
      onClick={() => {
        const t = next[theme];
        if (t === 'system') localStorage.removeItem('sd-theme');
        else localStorage.setItem('sd-theme', t);
        applyTheme(t);
        setTheme(t);
      }}
    >
      {theme === 'dark' ? '☾ dark' : theme === 'light' ? '☀ light' : '◐ system'}
    </button>
  );
}

function LiveIndicator() {
  const [state, setState] = useState(eventsState());
  useEffect(() => {
    const off = onEventsState(setState);
    // It may have changed between this render and the subscription.
    setState(eventsState());
    return off;
  }, []);
  return (
    <span class={`live live-${state}`} role="status" aria-live="polite" data-events={state}>
      {state === 'open' ? 'live' : state === 'connecting' ? 'connecting…' : 'offline'}
    </span>
  );
}

const NAV = [
  { href: '/', label: 'Overview' },
  { href: '/jobs', label: 'Jobs' },
  { href: '/extensions', label: 'Extensions' },
  { href: '/methods', label: 'Methods' },
];

/** The method a methods page shows (`?method=`). */
function methodOf(): string | null {
  return new URLSearchParams(location.search).get('method');
}

function pageTitle(path: string): string {
  if (path.startsWith('/jobs/')) return `Job ${decodeURIComponent(path.slice('/jobs/'.length))}`;
  if (path === '/methods' && methodOf()) return methodOf()!;
  return NAV.find((n) => n.href === path)?.label ?? 'Not found';
}

/** `route`: the path with its query string, which some pages read (`/methods?method=`). */
function Page({ path, route }: { path: string; route: string }) {
  // Each page has its own title, as a page load would (history, tabs, screen readers).
  useEffect(() => {
    document.title = `${pageTitle(path)} — Spacedrive`;
  }, [route]);
  if (path === '/' || path === '') return <OverviewPage />;
  if (path === '/jobs') return <JobsPage />;
  if (path.startsWith('/jobs/')) return <JobPage jobId={decodeURIComponent(path.slice('/jobs/'.length))} />;
  if (path === '/extensions') return <ExtensionsPage />;
  if (path === '/methods') return <MethodsPage selected={methodOf()} />;
  return (
    <section>
      <h1>Not found</h1>
      <p>
        No page at <code>{path}</code>.{' '}
        <a href="/" onClick={linkClick}>
          Back to the overview
        </a>
      </p>
    </section>
  );
}

function App() {
  const route = usePath();
  const path = route.split('?')[0]!;
  const [session, setSession] = useState<'checking' | 'in' | 'out'>('checking');
  const [problem, setProblem] = useState<string | null>(null);

  const check = async () => {
    try {
      const s = await getSession();
      setSession(s.authenticated ? 'in' : 'out');
      setProblem(null);
    } catch (err) {
      setSession('out');
      setProblem(err instanceof ApiError ? err.message : String(err));
    }
  };

  useEffect(() => {
    // The event stream opens beside the session check, and the jobs are read as soon as it is
    // subscribed: with a session they are on their way by the time the page knows it has one;
    // without, the stream is refused and opens again after the login.
    jobsStore.start();
    connectEvents();
    void check();
    return onUnauthorized(() => {
      disconnectEvents();
      setSession('out');
    });
  }, []);

  // After a login the stream opens again (it was refused, or closed at logout); its `ready`
  // makes the job store read the jobs of this session.
  useEffect(() => {
    if (session === 'in') connectEvents();
  }, [session]);

  if (session === 'checking') return <p class="center">Connecting to the daemon…</p>;
  if (session === 'out') return <LoginPage problem={problem} onLoggedIn={() => void check()} />;

  const current = NAV.find((n) => (n.href === '/' ? path === '/' : path.startsWith(n.href)));
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">Spacedrive</span>
        <nav aria-label="Main">
          <ul>
            {NAV.map((n) => (
              <li key={n.href}>
                <a href={n.href} onClick={linkClick} aria-current={current === n ? 'page' : undefined}>
                  {n.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <span class="spacer" />
        <LiveIndicator />
        <ThemeSwitch />
        <button
          type="button"
          class="ghost"
          onClick={async () => {
            await logout().catch(() => undefined);
            disconnectEvents();
            setSession('out');
            navigate('/', true);
          }}
        >
          Log out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        <Page path={path} route={route} />
      </main>
    </>
  );
}

applyTheme(initialTheme());
render(<App />, document.getElementById('app')!);
