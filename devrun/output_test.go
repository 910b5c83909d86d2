package main

import (
	"bytes"
	"strings"
	"sync"
	"testing"
)

func TestLineWriter_prefixesWholeLines(t *testing.T) {
	t.Parallel()

	var buf bytes.Buffer
	w := newLineWriter(&syncOutput{dst: &buf}, "posts-svc", prefixWidth)

	for _, part := range []string{`{"a":`, "1}\n{\"b\"", ":2}\r\n", "tail"} {
		if _, err := w.Write([]byte(part)); err != nil {
			t.Fatalf("write %q: %v", part, err)
		}
	}

	if err := w.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	want := "posts-svc      | {\"a\":1}\n" +
		"posts-svc      | {\"b\":2}\n" +
		"posts-svc      | tail\n"
	if got := buf.String(); got != want {
		t.Errorf("output =\n%s\nwant\n%s", got, want)
	}
}

func TestLineWriter_concurrentWritersKeepLinesWhole(t *testing.T) {
	t.Parallel()

	var buf bytes.Buffer
	out := &syncOutput{dst: &buf}
	line := strings.Repeat("x", 4096) + "\n"

	var wg sync.WaitGroup
	for _, name := range []string{"posts-svc", "query-svc"} {
		w := newLineWriter(out, name, prefixWidth)
		wg.Go(func() {
			for range 50 {
				// Two writes per line, so a line is whole only if the
				// writer buffers the first half.
				w.Write([]byte(line[:100]))
				w.Write([]byte(line[100:]))
			}
		})
	}
	wg.Wait()

	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 100 {
		t.Fatalf("got %d lines, want 100", len(lines))
	}

	for i, l := range lines {
		_, rest, ok := strings.Cut(l, " | ")
		if !ok || rest != line[:len(line)-1] {
			t.Fatalf("line %d is not one whole prefixed line: %.60q…", i, l)
		}
	}
}
