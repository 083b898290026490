/** Re-renders a component when a store with `subscribe` changes. */
import { useEffect, useState } from 'preact/hooks';

export function useStore(store: { subscribe(l: () => void): () => void }): void {
  const [, setTick] = useState(0);
  useEffect(() => store.subscribe(() => setTick((n) => n + 1)), [store]);
}
