package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// WriteTimeout bounds a store write that a handler carries on with after
// its client went away.
const WriteTimeout = 10 * time.Second

// Detach returns a context with the values of r's context but not its
// cancellation, cancelled after d. A handler runs its store write with it
// once the input is valid. The HTTP server cancels r's context when the
// client closes the connection or only its sending side, and a write
// cancelled half way may still have committed, so the client would get an
// error, retry and create a duplicate. The caller must call the cancel
// function.
func Detach(r *http.Request, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(r.Context()), d)
}

// LogIfGone logs msg with args at level INFO when the client of r went
// away before the response. The response is written all the same, because
// a client that closed only its sending side still reads it.
func LogIfGone(r *http.Request, msg string, args ...any) {
	if r.Context().Err() == nil {
		return
	}

	slog.InfoContext(r.Context(), msg, args...)
}
