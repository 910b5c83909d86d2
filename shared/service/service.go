// Package service runs a service's HTTP server and background workers and
// shuts them down in order.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// Worker runs until its context is cancelled and returns nil on a clean
// stop. Consumers and the outbox relay are workers.
type Worker struct {
	Name string
	Run  func(ctx context.Context) error
}

// NewLogger returns a JSON logger that names the service in every record
// and installs it as the default.
func NewLogger(name string, level slog.Level) *slog.Logger {
	logger := slog.New(slog.NewJSONHandler(os.Stderr,
		&slog.HandlerOptions{Level: level})).With("service", name)
	slog.SetDefault(logger)

	return logger
}

// Run serves handler on addr and runs consumers and relays until ctx is
// cancelled or one of them fails. Shutdown goes in order within timeout:
// the server stops accepting and finishes in-flight requests, then the
// consumers finish their batch, commit it and leave their groups, then
// relays publish what those steps stored.
func Run(
	ctx context.Context,
	addr string,
	handler http.Handler,
	timeout time.Duration,
	consumers []Worker,
	relays []Worker,
) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}

	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		// Longer than the 60 s for which ingress-nginx keeps an idle
		// upstream connection, so the proxy closes it first and never
		// sends a request on a connection the service is closing.
		IdleTimeout: 120 * time.Second,
	}

	failed := make(chan error, 1+len(consumers)+len(relays))
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			failed <- fmt.Errorf("http server: %w", err)
		}
	}()
	slog.InfoContext(ctx, "listening", "addr", ln.Addr().String())

	consumerCtx, stopConsumers := context.WithCancel(context.Background())
	relayCtx, stopRelays := context.WithCancel(context.Background())
	consumersDone := start(consumerCtx, consumers, failed)
	relaysDone := start(relayCtx, relays, failed)

	var runErr error
	select {
	case <-ctx.Done():
		slog.Info("shutting down", "timeout", timeout.String())
	case runErr = <-failed:
		slog.Error("shutting down after a failure", "error", runErr)
	}

	deadline, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	if err := srv.Shutdown(deadline); err != nil {
		slog.Warn("http shutdown incomplete", "error", err)
	}

	stopConsumers()
	wait(deadline, consumersDone, "consumers")
	stopRelays()
	wait(deadline, relaysDone, "relays")

	slog.Info("stopped")
	return runErr
}

func start(ctx context.Context, workers []Worker, failed chan<- error) <-chan struct{} {
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.Run(ctx); err != nil {
				failed <- fmt.Errorf("%s: %w", w.Name, err)
			}
		}()
	}

	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()

	return done
}

func wait(ctx context.Context, done <-chan struct{}, workers string) {
	select {
	case <-done:
	case <-ctx.Done():
		slog.Warn("shutdown timed out before the " + workers + " stopped")
	}
}
