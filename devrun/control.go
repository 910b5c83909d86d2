package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafkablog/blog/shared/event"
	"github.com/kafkablog/blog/shared/messaging"
)

// controlFile names the file, under .dev, that contains the address of the
// running runner's control server. `devrun rebuild` reads it.
const controlFile = "control-addr"

// Lines that end a rebuild's streamed report. The client decides its exit
// status by them.
const (
	resultOK     = "rebuild finished"
	resultFailed = "rebuild failed: "
)

// catchUpTimeout bounds the wait for query-svc to replay the log after a
// rebuild.
const catchUpTimeout = 10 * time.Minute

// controlServer serves operations on the running system that the public
// router must never expose. It listens on a free 127.0.0.1 port, written
// to .dev/control-addr for the `devrun rebuild` client.
type controlServer struct {
	r    *runner
	srv  *http.Server
	file string
	// mu lets one rebuild run at a time.
	mu sync.Mutex
}

// startControl starts the control server for r and records its address.
func startControl(r *runner) (*controlServer, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the control server: %w", err)
	}

	c := &controlServer{r: r, file: filepath.Join(r.root, ".dev", controlFile)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /rebuild", c.handleRebuild)
	c.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}

	if err := os.MkdirAll(filepath.Dir(c.file), 0o755); err != nil {
		ln.Close()
		return nil, fmt.Errorf("create .dev: %w", err)
	}

	if err := os.WriteFile(c.file, []byte(ln.Addr().String()+"\n"), 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("write %s: %w", c.file, err)
	}

	go func() {
		if err := c.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.log.Error("control server stopped", "error", err)
		}
	}()

	return c, nil
}

// Stop removes the address file and closes the server. A rebuild still
// running is cut off.
func (c *controlServer) Stop() {
	os.Remove(c.file)
	c.srv.Close()
}

// handleRebuild stops query-svc, runs `query-svc rebuild`, starts
// query-svc again and waits until it has replayed the log, streaming the
// progress as text lines. The last line is resultOK or starts with
// resultFailed.
func (c *controlServer) handleRebuild(w http.ResponseWriter, req *http.Request) {
	if !c.mu.TryLock() {
		http.Error(w, resultFailed+"another rebuild is running", http.StatusConflict)
		return
	}
	defer c.mu.Unlock()

	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	report := &flushWriter{w: w}
	if err := c.rebuild(req.Context(), report); err != nil {
		c.r.log.Error("rebuild failed", "error", err)
		fmt.Fprintf(report, "%s%v\n", resultFailed, err)
		return
	}

	c.r.log.Info("rebuild finished")
	fmt.Fprintln(report, resultOK)
}

func (c *controlServer) rebuild(ctx context.Context, report io.Writer) error {
	r := c.r
	idx, s := findService("query-svc")
	old := r.proc(idx)

	fmt.Fprintf(report, "stopping query-svc (pid %d)\n", old.PID())
	r.log.Info("rebuild: stopping query-svc", "pid", old.PID())
	old.expectExit.Store(true)
	if err := old.Stop(r.cfg.StopTimeout, r.log); err != nil {
		fmt.Fprintf(report, "query-svc exited with %s\n", exitDescription(err))
	}

	fmt.Fprintln(report, "running query-svc rebuild")
	rebuildErr := c.runRebuild(ctx, s, report)

	// query-svc starts again whatever the rebuild did: after a refused
	// or failed rebuild it resumes from the offsets it had.
	fmt.Fprintln(report, "starting query-svc")
	p, err := r.startService(s)
	if err != nil {
		return errors.Join(rebuildErr, err)
	}
	r.setProc(idx, p)

	if rebuildErr != nil {
		return rebuildErr
	}

	// query-svc is not ready until it is close to the end of the log, so
	// the replay gets its own, longer bound before the readiness check.
	fmt.Fprintln(report, "waiting until query-svc has replayed the log")
	start := time.Now()
	if err := c.waitCaughtUp(ctx, p); err != nil {
		return fmt.Errorf("wait for query-svc to replay the log: %w", err)
	}

	fmt.Fprintf(report, "query-svc replayed the log in %s\n",
		time.Since(start).Round(time.Millisecond))
	if err := waitReady(ctx, []*process{p}, []service{s}, r.cfg.ReadyTimeout, r.log); err != nil {
		return err
	}

	fmt.Fprintln(report, "query-svc is ready")
	return nil
}

// runRebuild runs the query-svc binary with the rebuild argument and the
// service's environment, copying its output to the report and to the
// runner's output.
func (c *controlServer) runRebuild(ctx context.Context, s service, report io.Writer) error {
	r := c.r
	cmd := exec.CommandContext(ctx, r.binPath(s), "rebuild")
	cmd.Dir = r.root
	cmd.Env = serviceEnv(s, r.databaseURLs[s.Name], r.brokers)
	prefixed := newLineWriter(r.out, s.Name+" rebuild", prefixWidth)
	defer prefixed.Close()
	out := io.MultiWriter(prefixed, report)
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.WaitDelay = 2 * time.Second

	if err := cmd.Run(); err != nil {
		return fmt.Errorf("query-svc rebuild: %s", exitDescription(err))
	}

	return nil
}

// waitCaughtUp blocks until query-svc's consumer group has committed
// every record that its topics held when the wait began. It fails when
// p, the running query-svc, exits first.
func (c *controlServer) waitCaughtUp(ctx context.Context, p *process) error {
	ctx, cancel := context.WithTimeoutCause(ctx, catchUpTimeout,
		fmt.Errorf("not caught up after %s", catchUpTimeout))
	defer cancel()

	exited := errors.New("query-svc exited")
	ctx, cancelExit := context.WithCancelCause(ctx)
	defer cancelExit(nil)
	go func() {
		select {
		case <-p.done:
			cancelExit(fmt.Errorf("%w (%s)", exited, exitDescription(p.err)))
		case <-ctx.Done():
		}
	}()

	topics := event.NewTopics(c.r.cfg.TopicPrefix)
	client := &kafka.Client{
		Addr:    kafka.TCP(strings.Split(c.r.brokers, ",")...),
		Timeout: 10 * time.Second,
	}

	err := messaging.WaitCaughtUp(ctx, client, c.r.cfg.TopicPrefix+"query-svc",
		[]string{topics.Posts, topics.Comments}, 200*time.Millisecond)
	if err != nil && context.Cause(ctx) != nil {
		return context.Cause(ctx)
	}

	return err
}

// flushWriter flushes each write to the client, so progress shows as it
// happens.
type flushWriter struct {
	w http.ResponseWriter
}

func (f *flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if fl, ok := f.w.(http.Flusher); ok {
		fl.Flush()
	}

	return n, err
}

// requestRebuild is the `devrun rebuild` command: it sends a rebuild
// request to the runner started in root and copies the progress to out. It fails when no runner is running or the rebuild fails.
func requestRebuild(root string, out io.Writer) error {
	data, err := os.ReadFile(filepath.Join(root, ".dev", controlFile))
	if errors.Is(err, os.ErrNotExist) {
		return errors.New("no running system found: start it with `make dev` first")
	}
	if err != nil {
		return fmt.Errorf("read the runner's control address: %w", err)
	}

	addr := strings.TrimSpace(string(data))
	resp, err := http.Post("http://"+addr+"/rebuild", "text/plain", nil)
	if err != nil {
		return fmt.Errorf("no running system responds at %s (is `make dev` "+
			"still running?): %w", addr, err)
	}
	defer resp.Body.Close()

	var last string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		last = sc.Text()
		fmt.Fprintln(out, last)
	}

	if err := sc.Err(); err != nil {
		return fmt.Errorf("read the rebuild report: %w", err)
	}

	switch {
	case last == resultOK:
		return nil
	case strings.HasPrefix(last, resultFailed):
		return errors.New(strings.TrimPrefix(last, resultFailed))
	default:
		return errors.New("the rebuild report ended early: see the `make dev` output")
	}
}

// clean removes .dev/postgres and .dev/kafka under root. It refuses while
// a devrun responds at the recorded control address or a PostgreSQL
// server still runs on .dev/postgres, because removing their data under
// them loses writes and leaves the server running.
func clean(root string) error {
	dev := filepath.Join(root, ".dev")
	data, err := os.ReadFile(filepath.Join(dev, controlFile))
	if err == nil {
		addr := strings.TrimSpace(string(data))
		conn, dialErr := net.DialTimeout("tcp", addr, time.Second)
		if dialErr == nil {
			conn.Close()
			return errors.New("the local system is running (make dev): " +
				"stop it with Ctrl-C first")
		}
	}

	pidFile := filepath.Join(dev, "postgres", "data", "postmaster.pid")
	if pid := readPostmasterPID(pidFile); pid != 0 && syscall.Kill(pid, 0) == nil {
		return fmt.Errorf("PostgreSQL still runs on .dev/postgres (PID %d): "+
			"stop make dev first, or stop the server with `kill -INT %d`",
			pid, pid)
	}

	for _, name := range []string{"postgres", "kafka", controlFile} {
		if err := os.RemoveAll(filepath.Join(dev, name)); err != nil {
			return fmt.Errorf("remove .dev/%s: %w", name, err)
		}
	}

	return nil
}
