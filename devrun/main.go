// Command devrun runs the whole blog on this machine for development. It
// builds the services, starts PostgreSQL (a throwaway cluster under
// .dev/postgres unless DATABASE_URL is set) and Kafka (an embedded broker
// unless KAFKA_BROKERS is set), runs the four services, and serves them
// and the built client behind one address that routes like the ingress.
// It stays in the foreground until SIGINT, SIGTERM or SIGHUP, then stops
// everything it started.
//
// Run it from the repository root with `go run ./devrun` or `make dev`.
// While it runs, `go run ./devrun rebuild` (or `make rebuild`) stops
// query-svc, runs `query-svc rebuild`, starts query-svc again and waits
// until it has replayed the log. The request goes to a control server on
// a free 127.0.0.1 port, recorded in .dev/control-addr; the router never
// serves it.
// Settings, all optional:
//
//	DATABASE_URL       existing PostgreSQL server; each service gets its
//	                   own database on it, created when missing
//	KAFKA_BROKERS      existing Kafka brokers, comma-separated host:port
//	BLOG_ADDR          router listen address (default 127.0.0.1:8080)
//	DEV_PG_PORT        port of the throwaway cluster (default 5432)
//	DEV_PG_BIN         folder with initdb and pg_ctl (default: the newest
//	                   /usr/lib/postgresql/*/bin, then the PATH)
//	DEV_KAFKA_PORT     port of the embedded broker (default 9092)
//	DEV_PORT_BASE      HTTP port of posts-svc; comments-svc, query-svc
//	                   and moderation-svc take the next three
//	                   (default 4000)
//	DEV_SKIP_CLIENT    1 to skip building the client with npm
//	DEV_READY_TIMEOUT  wait for every /readyz (default 60s)
//	DEV_STOP_TIMEOUT   wait for each service after SIGTERM before
//	                   SIGKILL (default 15s)
//	LOG_LEVEL          debug, info, warn or error, for the runner and,
//	                   passed on, for the services
//
// Every other environment variable is passed on to the services.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

func main() {
	os.Exit(run())
}

// run returns the exit code: 0 after a stop by signal, 1 when start-up
// fails or a service exits, 2 for invalid settings.
func run() int {
	switch args := os.Args[1:]; {
	case len(args) == 1 && args[0] == "rebuild":
		return runRebuildClient()
	case len(args) == 1 && args[0] == "clean":
		return runClean()
	case len(args) > 0:
		fmt.Fprintln(os.Stderr, "usage: devrun [rebuild | clean]")
		return 2
	}

	cfg, err := loadConfig(os.LookupEnv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "devrun: invalid settings:\n%v\n", err)
		return 2
	}

	setPortBase(cfg.PortBase)
	out := &syncOutput{dst: os.Stdout}
	logOut := newLineWriter(out, "devrun", prefixWidth)
	defer logOut.Close()

	log := slog.New(slog.NewTextHandler(logOut,
		&slog.HandlerOptions{Level: cfg.LogLevel}))

	if err := exitWithParent(); err != nil {
		log.Warn("cannot ask for SIGTERM on parent exit", "error", err)
	}

	root, err := findRepoRoot()
	if err != nil {
		fmt.Fprintf(logOut, "error: %v\n", err)
		return 1
	}

	ctx, stop := signal.NotifyContext(context.Background(),
		syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()

	if err := newRunner(cfg, root, out, log).Run(ctx); err != nil {
		// The error may span lines (a command's output), which the log
		// handler would quote into one line.
		fmt.Fprintf(logOut, "error: %v\n", err)
		return 1
	}

	return 0
}

// runRebuildClient requests a rebuild of the read model from the running
// devrun and returns the exit code: 0 when query-svc has replayed the log, 1 when
// the rebuild failed or no devrun runs.
func runRebuildClient() int {
	root, err := findRepoRoot()
	if err == nil {
		err = requestRebuild(root, os.Stdout)
	}

	if err != nil {
		fmt.Fprintf(os.Stderr, "devrun rebuild: %v\n", err)
		return 1
	}

	return 0
}

// runClean removes the local system's PostgreSQL data and Kafka log, and
// refuses while a devrun still runs on them.
func runClean() int {
	root, err := findRepoRoot()
	if err == nil {
		err = clean(root)
	}

	if err != nil {
		fmt.Fprintf(os.Stderr, "devrun clean: %v\n", err)
		return 1
	}

	fmt.Println("removed .dev/postgres and .dev/kafka")
	return 0
}

// findRepoRoot returns the nearest folder at or above the working
// directory that contains go.work.
func findRepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("get working directory: %w", err)
	}

	for {
		_, err := os.Stat(filepath.Join(dir, "go.work"))
		if err == nil {
			return dir, nil
		}

		if !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("look for go.work: %w", err)
		}

		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.work in the working directory " +
				"or above it: run devrun from the repository root")
		}

		dir = parent
	}
}
