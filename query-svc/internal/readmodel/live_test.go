package readmodel_test

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kafkablog/blog/query-svc/internal/dbtest"
	"github.com/kafkablog/blog/query-svc/internal/live"
)

// TestApply_announcedOnEventStream follows a change from a committed
// Apply through the PostgreSQL notification and the hub to a browser's
// event stream, which receives a "changed" event.
func TestApply_announcedOnEventStream(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)

	hub := live.NewHub()
	ctx, cancel := context.WithCancel(context.Background())
	listening := make(chan error, 1)
	go func() { listening <- live.Listen(ctx, pool, hub) }()
	t.Cleanup(func() {
		cancel()
		hub.Close()
		if err := <-listening; err != nil {
			t.Errorf("Listen: %v", err)
		}
	})

	srv := httptest.NewServer(live.StreamHandler(hub))
	t.Cleanup(srv.Close)

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("open the event stream: %v", err)
	}
	defer resp.Body.Close()

	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type = %q, want text/event-stream", ct)
	}

	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()

	// The stream announces itself before any change.
	waitLine(t, lines, ": connected")

	// Listen publishes once when it starts listening; a change must
	// arrive after the commit, so wait for the listener to settle first.
	time.Sleep(200 * time.Millisecond)
	drain(lines)

	mustApply(t, pool, postCreated(t, uuid.New(), "Announced", base))
	waitLine(t, lines, "event: changed")
}

func waitLine(t *testing.T, lines <-chan string, want string) {
	t.Helper()

	timeout := time.After(10 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("stream ended before %q", want)
			}
			if strings.TrimSpace(line) == want {
				return
			}
		case <-timeout:
			t.Fatalf("no %q on the stream after 10 s", want)
		}
	}
}

func drain(lines <-chan string) {
	for {
		select {
		case <-lines:
		case <-time.After(100 * time.Millisecond):
			return
		}
	}
}
