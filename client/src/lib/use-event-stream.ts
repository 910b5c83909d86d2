import { useEffect, useRef } from "react";

/**
 * Listens to the server-sent events at `url` and calls `onEvent` for each
 * event named `eventName`. The browser reconnects by itself after a lost
 * connection, after the delay the server sets. Where EventSource is
 * missing, nothing happens, and callers keep their polling.
 */
export function useEventStream(
  url: string,
  eventName: string,
  onEvent: () => void,
): void {
  const onEventRef = useRef(onEvent);
  useEffect(() => {
    onEventRef.current = onEvent;
  });

  useEffect(() => {
    if (typeof EventSource === "undefined") {
      return;
    }

    const source = new EventSource(url);
    const listener = () => onEventRef.current();
    source.addEventListener(eventName, listener);
    return () => {
      source.removeEventListener(eventName, listener);
      source.close();
    };
  }, [url, eventName]);
}
