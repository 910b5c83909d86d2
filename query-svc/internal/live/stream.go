package live

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// Timings of a stream. The heartbeat keeps proxies, such as ingress-nginx
// with its 60 s read timeout, from closing an idle stream.
const (
	heartbeatInterval = 15 * time.Second
	writeTimeout      = 10 * time.Second
	// retryMillis is how long a browser waits before it reconnects.
	retryMillis = 3000
)

// StreamHandler serves server-sent events: a "changed" event when the
// stream opens and each time the read model changes, and a comment line
// as a heartbeat. A browser that
// receives "changed" fetches GET /posts again. The stream ends when the
// client leaves or the hub closes.
func StreamHandler(hub *Hub) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		changes, unsubscribe := hub.Subscribe()
		defer unsubscribe()

		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		// nginx, and so ingress-nginx, would otherwise buffer the stream.
		h.Set("X-Accel-Buffering", "no")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodHead {
			return
		}

		// The server's write timeout would cut a long stream, so each
		// write gets its own deadline instead.
		send := func(text string) bool {
			if err := rc.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
				// The server's WriteTimeout would then end the stream.
				slog.WarnContext(r.Context(), "set stream write deadline",
					"error", err)
			}
			if _, err := fmt.Fprint(w, text); err != nil {
				return false
			}

			return rc.Flush() == nil
		}

		// A browser that reconnects has missed the changes in between, so
		// each stream starts with a "changed" event.
		if !send(fmt.Sprintf("retry: %d\n: connected\n\nevent: changed\ndata: {}\n\n",
			retryMillis)) {
			return
		}

		heartbeat := time.NewTicker(heartbeatInterval)
		defer heartbeat.Stop()
		for {
			select {
			case <-r.Context().Done():
				return
			case <-hub.Done():
				return
			case <-changes:
				if !send("event: changed\ndata: {}\n\n") {
					return
				}
			case <-heartbeat.C:
				if !send(": heartbeat\n\n") {
					return
				}
			}
		}
	})
}
