/**
 * Path routing with the History API (the daemon answers every unknown path with index.html):
 * `/jobs`, `/jobs/<id>`, `/extensions`, `/methods`, `/methods?method=<method>`, `/` (overview).
 * A method travels in the query string: a path ending like `….v1` would be taken for a file.
 */
import { useEffect, useState } from 'preact/hooks';

const listeners = new Set<() => void>();

export function navigate(path: string, replace = false): void {
  if (path === location.pathname + location.search) return;
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  for (const l of listeners) l();
  window.scrollTo(0, 0);
  // As a page load would: focus goes to the new page's content, not the link left behind.
  requestAnimationFrame(() => document.getElementById('main')?.focus({ preventScroll: true }));
}

window.addEventListener('popstate', () => {
  for (const l of listeners) l();
});

/** The path with its query string (`/methods?method=…`). */
export function usePath(): string {
  const [path, setPath] = useState(location.pathname + location.search);
  useEffect(() => {
    const l = () => setPath(location.pathname + location.search);
    listeners.add(l);
    return () => listeners.delete(l);
  }, []);
  return path;
}

/** A same-page link: a real <a href> (open in a new tab works) whose plain click routes in place. */
export function linkClick(e: MouseEvent): void {
  const a = e.currentTarget as HTMLAnchorElement;
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  navigate(a.getAttribute('href') ?? '/');
}
