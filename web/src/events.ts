/**
 * The daemon's event stream (`GET /v1/events`, Server-Sent Events): one EventSource per page,
 * shared by every view. Each SSE event is named by the event type (`job:progress`, …; the list
 * is the wire's, docs/wire-protocol.md#event-types) and its data is the event
 * `{type, time, payload}`. The browser reconnects by itself after a drop; {@link onReady}
 * lets views read what they show once the subscription is in place, and again after a drop.
 */

export interface DaemonEvent {
  type: string;
  time: number;
  payload: Record<string, unknown>;
}

type Listener = (event: DaemonEvent) => void;

/** Every type the daemon emits that the dashboard shows (EventSource needs names to listen to). */
export const EVENT_TYPES = [
  'job:queued',
  'job:started',
  'job:progress',
  'job:completed',
  'job:failed',
  'job:retrying',
  'job:paused',
  'job:resumed',
  'job:cancelled',
  'extension:installed',
  'extension:loaded',
  'extension:failed',
  'extension:reloaded',
  'extension:unloaded',
  'extension:uninstalled',
  'extension:enabled',
  'extension:disabled',
  'library:created',
  'location:indexed',
];

/** What the page subscribes to: jobs, extensions (their lists and the methods), libraries and their indexing (entry counts). */
const SUBSCRIBED = 'job:*,extension:*,library:*,location:*';

const READY_TIMEOUT_MS = 3_000;

const listeners = new Set<Listener>();
const readyListeners = new Set<() => void>();
let source: EventSource | null = null;
let connectionState: 'connecting' | 'open' | 'closed' = 'closed';
const stateListeners = new Set<(s: typeof connectionState) => void>();

function setState(s: typeof connectionState): void {
  connectionState = s;
  for (const l of stateListeners) l(s);
}

function deliver(name: string, raw: string): void {
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch {
    return;
  }
  const d = data as Partial<DaemonEvent> & Record<string, unknown>;
  // The data is the event {type,time,payload}; a bare payload is accepted too.
  const event: DaemonEvent =
    d && typeof d === 'object' && d.payload && typeof d.payload === 'object'
      ? { type: typeof d.type === 'string' ? d.type : name, time: typeof d.time === 'number' ? d.time : Date.now(), payload: d.payload as Record<string, unknown> }
      : { type: name, time: Date.now(), payload: d as Record<string, unknown> };
  for (const l of listeners) l(event);
}

/**
 * Opens the stream unless one is open. The daemon's first message, `ready`, says the
 * subscription is in place: what is read after it misses no event, so {@link onReady}
 * listeners (the job store) read then — at the first connection and after every reconnection.
 */
export function connectEvents(): void {
  if (source && source.readyState !== EventSource.CLOSED) return;
  setState('connecting');
  const s = new EventSource(`/v1/events?types=${encodeURIComponent(SUBSCRIBED)}`, { withCredentials: true });
  source = s;
  s.onerror = () => {
    if (source !== s) return;
    // Closed for good (refused: no session); else the browser reconnects by itself.
    setState(s.readyState === EventSource.CLOSED ? 'closed' : 'connecting');
  };
  // Without its `ready` in a few seconds (a proxy buffering the stream, the browser's connections
  // to this host all taken), views read anyway rather than wait: events apply when they come.
  let readied = false;
  const late = setTimeout(() => {
    if (source !== s || readied || s.readyState === EventSource.CLOSED) return;
    for (const l of readyListeners) l();
  }, READY_TIMEOUT_MS);
  s.addEventListener('ready', () => {
    if (source !== s) return;
    readied = true;
    clearTimeout(late);
    setState('open');
    for (const l of readyListeners) l();
  });
  s.onmessage = (m) => deliver('message', m.data as string);
  for (const type of EVENT_TYPES) s.addEventListener(type, (m) => deliver(type, (m as MessageEvent).data as string));
}

export function disconnectEvents(): void {
  source?.close();
  source = null;
  setState('closed');
}

export function onEvent(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Called each time a stream's subscription is in place (its `ready` message). */
export function onReady(listener: () => void): () => void {
  readyListeners.add(listener);
  return () => readyListeners.delete(listener);
}

export function eventsState(): typeof connectionState {
  return connectionState;
}

export function onEventsState(listener: (s: typeof connectionState) => void): () => void {
  stateListeners.add(listener);
  return () => stateListeners.delete(listener);
}

// Leaving the page frees its connection at once (browsers allow few per host).
(globalThis as { window?: { addEventListener(type: string, listener: () => void): void } }).window?.addEventListener('pagehide', () => source?.close());
