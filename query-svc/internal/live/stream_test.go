package live_test

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kafkablog/blog/query-svc/internal/live"
	"github.com/kafkablog/blog/shared/httpapi"
)

// TestStreamHandler_outlivesWriteTimeout serves the stream behind the
// services' router on a server whose WriteTimeout is one second, as the
// services' is 30 s. The stream opens with a "changed" event, so a
// browser that reconnects refetches what it missed, and still delivers a
// change after the timeout has passed.
func TestStreamHandler_outlivesWriteTimeout(t *testing.T) {
	t.Parallel()

	hub := live.NewHub()
	router := httpapi.NewRouter()
	router.Handle("/posts/events", live.StreamHandler(hub)).Methods(http.MethodGet)

	srv := httptest.NewUnstartedServer(router)
	srv.Config.WriteTimeout = time.Second
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(hub.Close)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/posts/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("open the stream: %v", err)
	}
	defer resp.Body.Close()

	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()

	expectLine(t, lines, "event: changed", 5*time.Second)

	time.Sleep(1500 * time.Millisecond)
	hub.Publish()
	expectLine(t, lines, "event: changed", 5*time.Second)
}

func expectLine(t *testing.T, lines <-chan string, want string, within time.Duration) {
	t.Helper()

	timeout := time.After(within)
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
			t.Fatalf("no %q on the stream within %s", want, within)
		}
	}
}
