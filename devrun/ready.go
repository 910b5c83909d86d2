package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// readyPollInterval is the pause between two rounds of /readyz requests.
const readyPollInterval = 250 * time.Millisecond

// readyReportInterval is how often waitReady logs the services that are
// not ready yet.
const readyReportInterval = 5 * time.Second

// waitReady blocks until GET /readyz of every service returns 200. It
// fails when a service exits, when timeout passes, naming the services
// that are still not ready, or when ctx ends.
func waitReady(
	ctx context.Context,
	procs []*process,
	svcs []service,
	timeout time.Duration,
	log *slog.Logger,
) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	nextReport := time.Now().Add(readyReportInterval)
	ready := make(map[string]bool, len(svcs))

	for {
		notReady := map[string]string{}
		for i, s := range svcs {
			if procs[i].Exited() {
				return fmt.Errorf("%s exited before it was ready (%s)",
					s.Name, exitDescription(procs[i].err))
			}

			if ready[s.Name] {
				continue
			}

			if reason := checkReady(ctx, client, s); reason != "" {
				notReady[s.Name] = reason
				continue
			}

			ready[s.Name] = true
			log.Info("service ready", "service", s.Name, "addr", s.Addr())
		}

		if len(notReady) == 0 {
			return nil
		}

		if time.Now().After(deadline) {
			return fmt.Errorf("services not ready after %s (set "+
				"DEV_READY_TIMEOUT to wait longer): %s", timeout,
				describeNotReady(svcs, notReady))
		}

		if time.Now().After(nextReport) {
			log.Info("waiting for services", "not_ready",
				describeNotReady(svcs, notReady))
			nextReport = time.Now().Add(readyReportInterval)
		}

		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(readyPollInterval):
		}
	}
}

// checkReady requests the service's /readyz once and returns why it is
// not ready, or "" when it returned 200.
func checkReady(ctx context.Context, client *http.Client, s service) string {
	url := "http://" + s.Addr() + "/readyz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err.Error()
	}

	resp, err := client.Do(req)
	if err != nil {
		return "not reachable"
	}
	resp.Body.Close()

	if resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("/readyz returned %d", resp.StatusCode)
	}

	return ""
}

// describeNotReady formats service names with their reasons, in the
// order of svcs.
func describeNotReady(svcs []service, notReady map[string]string) string {
	var parts []string
	for _, s := range svcs {
		if reason, ok := notReady[s.Name]; ok {
			parts = append(parts, s.Name+" ("+reason+")")
		}
	}

	return strings.Join(parts, ", ")
}
