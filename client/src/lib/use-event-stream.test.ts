import { renderHook } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";

import { useEventStream } from "./use-event-stream";

/** Stands in for the browser's EventSource, which jsdom lacks. */
class FakeEventSource extends EventTarget {
  static opened: FakeEventSource[] = [];
  closed = false;
  readonly url: string;

  constructor(url: string) {
    super();
    this.url = url;
    FakeEventSource.opened.push(this);
  }

  close() {
    this.closed = true;
  }
}

describe("useEventStream", () => {
  afterEach(() => {
    FakeEventSource.opened = [];
    vi.unstubAllGlobals();
  });

  it("calls back on each named event", () => {
    vi.stubGlobal("EventSource", FakeEventSource);
    const onEvent = vi.fn();

    const { unmount } = renderHook(() =>
      useEventStream("/posts/events", "changed", onEvent),
    );

    expect(FakeEventSource.opened).toHaveLength(1);
    const source = FakeEventSource.opened[0];
    expect(source.url).toBe("/posts/events");

    source.dispatchEvent(new Event("changed"));
    source.dispatchEvent(new Event("other"));
    source.dispatchEvent(new Event("changed"));
    expect(onEvent).toHaveBeenCalledTimes(2);

    unmount();
    expect(source.closed).toBe(true);
    source.dispatchEvent(new Event("changed"));
    expect(onEvent).toHaveBeenCalledTimes(2);
  });

  it("does nothing without EventSource", () => {
    vi.stubGlobal("EventSource", undefined);
    const onEvent = vi.fn();

    expect(() =>
      renderHook(() => useEventStream("/posts/events", "changed", onEvent)),
    ).not.toThrow();
    expect(onEvent).not.toHaveBeenCalled();
  });
});
