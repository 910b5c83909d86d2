package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// routerStopTimeout bounds the wait for requests still running in the
// router when it stops.
const routerStopTimeout = 5 * time.Second

// runner starts PostgreSQL, Kafka, the services and the router, and
// stops them in the reverse order.
type runner struct {
	cfg  Config
	root string
	out  *syncOutput
	log  *slog.Logger
	// cleanups stop what the runner started, run last to first.
	cleanups []func()
	// procs and exited are the running services and the channel that
	// receives each of them when it exits.
	procs  []*process
	exited chan *process
	// mu guards procs, which a rebuild changes while the runner runs.
	mu sync.Mutex
	// databaseURLs and brokers are what the services were started with.
	databaseURLs map[string]string
	brokers      string
}

// newRunner returns a runner for the repository at root that writes the
// services' output and its own to out.
func newRunner(cfg Config, root string, out *syncOutput, log *slog.Logger) *runner {
	return &runner{
		cfg:    cfg,
		root:   root,
		out:    out,
		log:    log,
		exited: make(chan *process, len(services)),
	}
}

// Run starts everything and blocks until ctx ends or a service exits,
// then stops everything it started. It returns nil after a stop through
// ctx, including one during the start, and an error when a step of the
// start fails or a service exits on its own.
func (r *runner) Run(ctx context.Context) error {
	defer r.stop()

	err := r.start(ctx)
	if err != nil && ctx.Err() != nil {
		r.log.Info("interrupted during start-up; stopping")
		return nil
	}

	if err != nil {
		return err
	}

	r.printBanner()

	for {
		select {
		case <-ctx.Done():
			r.log.Info("stopping on signal")
			return nil
		case p := <-r.exited:
			if p.expectExit.Load() {
				continue
			}

			r.log.Error("service exited unexpectedly; stopping everything",
				"service", p.name, "pid", p.PID(), "exit", exitDescription(p.err))
			return fmt.Errorf("%s exited unexpectedly (%s)", p.name,
				exitDescription(p.err))
		}
	}
}

// start runs the start-up steps in order. Each step that starts something
// adds the cleanup that stops it.
func (r *runner) start(ctx context.Context) error {
	for _, s := range services {
		if err := checkPortFree(s.Port); err != nil {
			return fmt.Errorf("%s needs port %d: %w: stop the program "+
				"listening there (ss -ltnp 'sport = :%d' shows it)",
				s.Name, s.Port, err, s.Port)
		}
	}

	binDir := filepath.Join(r.root, ".dev", "bin")
	r.log.Info("building services", "bin_dir", binDir)
	if err := buildServices(ctx, r.root, binDir, services, r.out); err != nil {
		return err
	}

	r.buildClient(ctx)

	databaseURLs, err := r.startPostgres(ctx)
	if err != nil {
		return err
	}

	brokers, err := r.startKafka()
	if err != nil {
		return err
	}

	if err := r.startRouter(); err != nil {
		return err
	}

	r.databaseURLs, r.brokers = databaseURLs, brokers
	r.cleanups = append(r.cleanups, func() {
		r.mu.Lock()
		procs := slices.Clone(r.procs)
		r.mu.Unlock()
		stopAll(procs, r.cfg.StopTimeout, r.log)
	})

	for _, s := range services {
		p, err := r.startService(s)
		if err != nil {
			return err
		}

		r.mu.Lock()
		r.procs = append(r.procs, p)
		r.mu.Unlock()
	}

	if err := waitReady(ctx, r.procs, services, r.cfg.ReadyTimeout, r.log); err != nil {
		return err
	}

	control, err := startControl(r)
	if err != nil {
		return err
	}

	r.cleanups = append(r.cleanups, control.Stop)

	return nil
}

// binPath returns where the runner builds the service's binary.
func (r *runner) binPath(s service) string {
	return filepath.Join(r.root, ".dev", "bin", s.Name)
}

// startService starts one service with its database and the brokers.
func (r *runner) startService(s service) (*process, error) {
	env := serviceEnv(s, r.databaseURLs[s.Name], r.brokers)
	p, err := startProcess(s.Name, r.binPath(s), r.root, env, r.out, r.exited)
	if err != nil {
		return nil, err
	}

	r.log.Info("service started", "service", s.Name, "pid", p.PID(),
		"addr", s.Addr())

	return p, nil
}

// proc returns the running process of services[i].
func (r *runner) proc(i int) *process {
	r.mu.Lock()
	defer r.mu.Unlock()

	return r.procs[i]
}

// setProc records p as the running process of services[i].
func (r *runner) setProc(i int, p *process) {
	r.mu.Lock()
	defer r.mu.Unlock()

	r.procs[i] = p
}

// findService returns the index and entry of the named service in
// services. The name must be one of them.
func findService(name string) (int, service) {
	for i, s := range services {
		if s.Name == name {
			return i, s
		}
	}

	panic("devrun: unknown service " + name)
}

// buildClient builds the client unless DEV_SKIP_CLIENT is set. A failed
// build is logged and the runner goes on, because the services are
// useful without the client.
func (r *runner) buildClient(ctx context.Context) {
	if r.cfg.SkipClient {
		r.log.Info("DEV_SKIP_CLIENT is set; not building the client")
		return
	}

	if err := buildClient(ctx, r.root, r.out, r.log); err != nil {
		r.log.Warn("client build failed; serving the previous build, if "+
			"any (set DEV_SKIP_CLIENT=1 to skip the build)", "error", err)
	}
}

// startPostgres prepares a database for each service and returns their
// URLs by service name.
func (r *runner) startPostgres(ctx context.Context) (map[string]string, error) {
	names := make([]string, 0, len(services))
	for _, s := range services {
		names = append(names, s.Database)
	}

	urls := make(map[string]string, len(services))
	if r.cfg.DatabaseURL != nil {
		r.log.Info("using PostgreSQL from DATABASE_URL",
			"url", r.cfg.DatabaseURL.Redacted())
		if err := createDatabases(ctx, r.cfg.DatabaseURL, names); err != nil {
			return nil, err
		}

		for _, s := range services {
			urls[s.Name] = withDatabase(r.cfg.DatabaseURL, s.Database).String()
		}

		return urls, nil
	}

	dir := filepath.Join(r.root, ".dev", "postgres")
	cluster, err := newPGCluster(dir, r.cfg.PostgresBinDir,
		r.cfg.PostgresPort, r.log)
	if err != nil {
		return nil, err
	}

	// The cleanup goes in before the start, so a start that fails
	// half-way still stops a server it may have left running.
	r.cleanups = append(r.cleanups, func() {
		if err := cluster.Stop(); err != nil {
			r.log.Error("stop PostgreSQL", "error", err)
			return
		}

		r.log.Info("PostgreSQL stopped")
	})

	if err := cluster.Start(); err != nil {
		return nil, err
	}

	r.log.Info("PostgreSQL started", "addr",
		fmt.Sprintf("127.0.0.1:%d", r.cfg.PostgresPort),
		"data_dir", cluster.dataDir, "log", cluster.logFile)

	if err := createDatabases(ctx, cluster.URL("postgres"), names); err != nil {
		return nil, err
	}

	for _, s := range services {
		urls[s.Name] = cluster.URL(s.Database).String()
	}

	return urls, nil
}

// startKafka returns the comma-separated brokers from KAFKA_BROKERS, or
// starts the embedded broker and returns its address.
func (r *runner) startKafka() (string, error) {
	if len(r.cfg.KafkaBrokers) > 0 {
		brokers := strings.Join(r.cfg.KafkaBrokers, ",")
		r.log.Info("using Kafka from KAFKA_BROKERS", "brokers", brokers)
		return brokers, nil
	}

	if err := checkPortFree(r.cfg.KafkaPort); err != nil {
		return "", fmt.Errorf("DEV_KAFKA_PORT: %w: stop the broker "+
			"listening there, set KAFKA_BROKERS to use it, or set "+
			"DEV_KAFKA_PORT to a free port", err)
	}

	dataDir := filepath.Join(r.root, ".dev", "kafka")
	cluster, addr, err := startKafka(r.cfg.KafkaPort, dataDir, r.log)
	if err != nil {
		return "", err
	}

	r.cleanups = append(r.cleanups, func() {
		cluster.Close()
		r.log.Info("embedded Kafka broker stopped")
	})

	r.log.Info("embedded Kafka broker started", "addr", addr,
		"data_dir", dataDir)

	return addr, nil
}

// startRouter starts the router on BLOG_ADDR.
func (r *runner) startRouter() error {
	upstreams := map[target]string{}
	for _, s := range services {
		upstreams[target(s.Name)] = s.Addr()
	}

	// moderation-svc serves no public route, so the router needs no
	// proxy to it.
	delete(upstreams, target("moderation-svc"))

	dist := filepath.Join(r.root, "client", "dist")
	handler := newRouter(upstreams, dist, r.log)
	srv, err := startRouter(r.cfg.BlogAddr, handler, r.log)
	if err != nil {
		return err
	}

	r.cleanups = append(r.cleanups, func() {
		if err := srv.Stop(routerStopTimeout); err != nil {
			r.log.Error("stop router", "error", err)
			return
		}

		r.log.Info("router stopped")
	})

	return nil
}

// stop runs the cleanups from last to first.
func (r *runner) stop() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}

	r.cleanups = nil
}

// printBanner prints where the blog runs and how to stop it.
func (r *runner) printBanner() {
	w := newLineWriter(r.out, "devrun", prefixWidth)
	defer w.Close()

	fmt.Fprintf(w, "The blog is running at http://%s\n", r.cfg.BlogAddr)
	for _, s := range services {
		fmt.Fprintf(w, "  %-15s http://%s\n", s.Name, s.Addr())
	}

	r.printStorage(w)
	fmt.Fprintf(w, "Stop everything with Ctrl-C, or with SIGINT or SIGTERM "+
		"to PID %d.\n", os.Getpid())
}

// printStorage prints where PostgreSQL and Kafka run and what they keep.
func (r *runner) printStorage(w io.Writer) {
	if r.cfg.DatabaseURL != nil {
		fmt.Fprintf(w, "  %-15s %s (from DATABASE_URL)\n", "PostgreSQL",
			r.cfg.DatabaseURL.Redacted())
	} else {
		fmt.Fprintf(w, "  %-15s 127.0.0.1:%d, data kept in .dev/postgres\n",
			"PostgreSQL", r.cfg.PostgresPort)
	}

	brokers := strings.Join(r.cfg.KafkaBrokers, ",")
	if brokers != "" {
		fmt.Fprintf(w, "  %-15s %s (from KAFKA_BROKERS)\n", "Kafka", brokers)
	} else {
		brokers = fmt.Sprintf("127.0.0.1:%d", r.cfg.KafkaPort)
		fmt.Fprintf(w, "  %-15s %s, embedded broker, data kept in .dev/kafka\n",
			"Kafka", brokers)
	}

	fmt.Fprintf(w, "List the topics with: kcat -b %s -L\n", brokers)
	fmt.Fprintln(w, "Rebuild the read model from the log with: make rebuild")
	if r.cfg.KafkaBrokers == nil && r.cfg.DatabaseURL == nil {
		fmt.Fprintln(w, "Start from empty next time with: make clean-dev")
	}
}
