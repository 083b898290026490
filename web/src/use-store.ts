/** Re-renders a component when a store with `subscribe` changes. */
import { useEffect, useState } from 'preact/hooks';

export function useStore(store: { subscribe(l: () => void): () => void; version: number }): void {
  const [, setTick] = useState(0);
  const rendered = store.version;
  useEffect(() => {
    const off = store.subscribe(() => setTick((n) => n + 1));
    // A change between this render and the subscription would otherwise go unseen.
    if (store.version !== rendered) setTick((n) => n + 1);
    return off;
  }, [store]);
}
