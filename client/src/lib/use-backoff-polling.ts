import { useEffect, useRef } from "react";

/** Delays of useBackoffPolling, in milliseconds. */
export type BackoffDelays = { initialMs: number; maxMs: number };

/**
 * Calls `poll` while `active` is true: first after `initialMs`, then
 * doubling the delay after each call up to `maxMs`. The next call is
 * scheduled only after the previous one settles, so calls never overlap.
 * A change of `restartKey` starts again from `initialMs`. `poll` must
 * report its own failures and resolve, as TanStack Query's refetch does.
 */
export function useBackoffPolling(
  active: boolean,
  poll: () => Promise<unknown>,
  restartKey: string,
  { initialMs, maxMs }: BackoffDelays,
): void {
  const pollRef = useRef(poll);
  useEffect(() => {
    pollRef.current = poll;
  });

  useEffect(() => {
    if (!active) {
      return;
    }

    let cancelled = false;
    let delay = initialMs;
    let timer: ReturnType<typeof setTimeout>;

    const tick = async () => {
      await pollRef.current();
      if (cancelled) {
        return;
      }
      delay = Math.min(delay * 2, maxMs);
      timer = setTimeout(tick, delay);
    };

    timer = setTimeout(tick, delay);
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [active, restartKey, initialMs, maxMs]);
}
