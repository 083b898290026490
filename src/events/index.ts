/**
 * In-process event bus. Events are named `noun:verb` (`job:progress`). The wire's Subscribe
 * request attaches a connection to it with a list of types and a filter.
 */
export interface CoreEvent<P = Record<string, unknown>> {
  type: string;
  /** Milliseconds since the epoch. */
  time: number;
  payload: P;
}

/** Matches when every key in the filter equals the payload's value at that key. */
export type EventFilter = Record<string, string | number | boolean | null>;

export interface Subscription {
  readonly types: readonly string[];
  readonly filter: EventFilter | undefined;
  unsubscribe(): void;
}

type Listener = (event: CoreEvent) => void;

export function matchesEvent(event: CoreEvent, types: readonly string[], filter: EventFilter | undefined): boolean {
  if (!typeMatches(event.type, types)) return false;
  if (filter) {
    for (const [k, v] of Object.entries(filter)) if (event.payload[k] !== v) return false;
  }
  return true;
}

/** Whether a subscription to `types` receives events of `type` (whatever their payload). */
function typeMatches(type: string, types: readonly string[]): boolean {
  return types.length === 0 || types.some((t) => t === type || (t.endsWith(':*') && type.startsWith(t.slice(0, -1))) || t === '*');
}

export class EventBus {
  readonly #subs = new Set<{ types: readonly string[]; filter: EventFilter | undefined; listener: Listener }>();
  /** {@link wants} by event type, until the subscriptions change. */
  readonly #wanted = new Map<string, boolean>();
  readonly #changeListeners = new Set<() => void>();

  /** `types` empty (or containing `*`) means every event; `job:*` every job event. */
  subscribe(types: readonly string[], filter: EventFilter | undefined, listener: Listener): Subscription {
    const sub = { types, filter, listener };
    this.#subs.add(sub);
    this.#wanted.clear();
    this.#changed();
    return {
      types,
      filter,
      unsubscribe: () => {
        if (this.#subs.delete(sub)) {
          this.#wanted.clear();
          this.#changed();
        }
      },
    };
  }

  /** How many subscriptions receive events of `type`. */
  subscribers(type: string): number {
    let n = 0;
    for (const sub of this.#subs) if (typeMatches(type, sub.types)) n++;
    return n;
  }

  /** Calls `listener` after every subscribe and unsubscribe (the cluster relays events only to nodes that have subscribers). */
  onSubscriptionsChange(listener: () => void): () => void {
    this.#changeListeners.add(listener);
    return () => this.#changeListeners.delete(listener);
  }

  #changed(): void {
    for (const l of this.#changeListeners) l();
  }

  /**
   * Whether any subscription receives events of `type`: emitters on hot paths ask first, so that
   * nobody listening costs them nothing (not even building the payload).
   */
  wants(type: string): boolean {
    let wanted = this.#wanted.get(type);
    if (wanted === undefined) {
      wanted = [...this.#subs].some((sub) => typeMatches(type, sub.types));
      this.#wanted.set(type, wanted);
    }
    return wanted;
  }

  emit<P extends Record<string, unknown>>(type: string, payload: P): void {
    if (this.#subs.size === 0) return;
    const event: CoreEvent = { type, time: Date.now(), payload };
    for (const sub of this.#subs) {
      if (!matchesEvent(event, sub.types, sub.filter)) continue;
      try {
        sub.listener(event);
      } catch {
        // A broken listener must not stop delivery to the others.
      }
    }
  }

  get listenerCount(): number {
    return this.#subs.size;
  }
}
