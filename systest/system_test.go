package systest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kafkablog/blog/shared/testenv"
)

// stopTimeout bounds the wait for a service after SIGTERM before it gets
// SIGKILL. It is longer than the services' SHUTDOWN_TIMEOUT of 10 s.
const stopTimeout = 20 * time.Second

// system is one copy of the blog for one test: a database per service,
// topics and consumer groups under a prefix of its own, and one log file
// with the output of every child process.
type system struct {
	t       *testing.T
	brokers []string
	prefix  string
	dbs     map[string]string
	logs    *logFile
	client  *http.Client

	mu    sync.Mutex
	procs []*process
}

// newSystem creates the databases and the log file of a new system,
// whose services are then started with start. When the test ends, every
// process still running is stopped, and the log is printed if the test
// failed.
func newSystem(t *testing.T) *system {
	t.Helper()

	brokers := testenv.Brokers(t)
	s := &system{
		t:       t,
		brokers: brokers,
		prefix:  testenv.TopicPrefix(t),
		dbs:     map[string]string{},
		client:  &http.Client{Timeout: 15 * time.Second},
	}
	for _, name := range serviceNames {
		s.dbs[name] = testenv.Database(t)
	}

	if binDir == "" {
		t.Fatal("the service binaries were not built; TestMain builds " +
			"them when TEST_KAFKA_BROKERS and TEST_DATABASE_URL are set")
	}

	// Cleanups run last-registered first: the processes stop, then the
	// log is printed, then the databases are dropped.
	s.logs = openLogFile(t, filepath.Join(t.TempDir(), "services.log"))
	t.Cleanup(s.stopAll)
	s.logs.note("topic prefix %s", s.prefix)

	return s
}

// env returns the environment of service name listening on addr, with
// extra settings ("NAME=value") last so they win.
func (s *system) env(name, addr string, extra []string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"HTTP_ADDR=" + addr,
		"DATABASE_URL=" + s.dbs[name],
		"KAFKA_BROKERS=" + strings.Join(s.brokers, ","),
		"KAFKA_TOPIC_PREFIX=" + s.prefix,
		"KAFKA_TOPIC_PARTITIONS=" + strconv.Itoa(topicPartitions),
		"SHUTDOWN_TIMEOUT=10s",
		"LOG_LEVEL=info",
	}
	if name == "query-svc" {
		// Ready means caught up with every event in the log.
		env = append(env, "READY_MAX_LAG=0")
	}

	return append(env, extra...)
}

// process is a service running as a child process.
type process struct {
	name string
	addr string
	cmd  *exec.Cmd
	out  *lineWriter
	// signaled is set once the test has sent the process a signal, so an
	// exit without one shows as a crash.
	signaled bool
	// done is closed when the process has exited. err is its exit error
	// and valid only after then.
	done chan struct{}
	err  error
}

// start runs service name on a free port on 127.0.0.1 with the system's
// environment and extra settings. Its output goes to the log file with
// the name and a start count as the prefix, as in "query-svc#2".
func (s *system) start(name string, extra ...string) *process {
	s.t.Helper()

	s.mu.Lock()
	count := 1
	for _, p := range s.procs {
		if p.name == name {
			count++
		}
	}
	s.mu.Unlock()

	addr := freeAddr(s.t)
	p := &process{
		name: name,
		addr: addr,
		cmd:  exec.Command(filepath.Join(binDir, name)),
		out:  s.logs.writer(fmt.Sprintf("%s#%d", name, count)),
		done: make(chan struct{}),
	}
	p.cmd.Env = s.env(name, addr, extra)
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	p.cmd.SysProcAttr = childProcAttr()
	// A pipe held open by anything but the child cannot block Wait for
	// longer than this.
	p.cmd.WaitDelay = 2 * time.Second

	if err := p.cmd.Start(); err != nil {
		s.t.Fatalf("start %s: %v", name, err)
	}

	go func() {
		p.err = p.cmd.Wait()
		p.out.flush()
		close(p.done)
	}()

	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()

	s.logs.note("started %s#%d (pid %d) on %s %s", name, count, p.pid(),
		addr, strings.Join(extra, " "))
	return p
}

// pid returns the process id.
func (p *process) pid() int {
	return p.cmd.Process.Pid
}

// url returns the service's URL for path.
func (p *process) url(path string) string {
	return "http://" + p.addr + path
}

// exited reports whether the process has exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits for the process to exit, then SIGKILL
// after stopTimeout. It fails the test unless the process exited with
// status 0 before the bound.
func (p *process) stop(t *testing.T) {
	t.Helper()

	start := time.Now()
	if err := p.signalAndWait(syscall.SIGTERM, stopTimeout); err != nil {
		t.Errorf("stop %s: %v", p.name, err)
		return
	}
	if p.err != nil {
		t.Errorf("%s (pid %d) exited with %v after SIGTERM, want status 0",
			p.name, p.pid(), p.err)
	}

	t.Logf("%s stopped by SIGTERM in %s", p.name,
		time.Since(start).Round(time.Millisecond))
}

// kill sends SIGKILL and waits for the process to exit.
func (p *process) kill(t *testing.T) {
	t.Helper()

	if err := p.signalAndWait(syscall.SIGKILL, stopTimeout); err != nil {
		t.Fatalf("kill %s: %v", p.name, err)
	}
}

// signalAndWait sends sig to the process and waits up to timeout for it
// to exit. A process still running then gets SIGKILL, and the returned
// error reports that.
func (p *process) signalAndWait(sig syscall.Signal, timeout time.Duration) error {
	if p.exited() {
		return nil
	}

	p.signaled = true
	err := syscall.Kill(p.pid(), sig)
	if err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("send %v to pid %d: %w", sig, p.pid(), err)
	}

	timer := time.NewTimer(timeout)
	defer timer.Stop()

	select {
	case <-p.done:
		return nil
	case <-timer.C:
	}

	_ = syscall.Kill(p.pid(), syscall.SIGKILL)
	<-p.done

	return fmt.Errorf("pid %d still running %s after %v; sent SIGKILL",
		p.pid(), timeout, sig)
}

// stopAll stops every process that is still running, all at once. A
// process that exited although the test never signaled it fails the
// test, since a service must not stop on its own.
func (s *system) stopAll() {
	s.mu.Lock()
	procs := s.procs
	s.mu.Unlock()

	var wg sync.WaitGroup
	for _, p := range procs {
		if p.exited() && !p.signaled {
			s.t.Errorf("%s (pid %d) exited on its own: %v", p.name, p.pid(),
				p.err)
			continue
		}

		wg.Go(func() {
			if err := p.signalAndWait(syscall.SIGTERM, stopTimeout); err != nil {
				s.t.Errorf("stop %s at the end of the test: %v", p.name, err)
			}
		})
	}

	wg.Wait()
}

// waitReady polls GET /readyz of p until it returns 200 and returns how
// long that took. It fails the test when p exits or timeout passes.
func (s *system) waitReady(p *process, timeout time.Duration) time.Duration {
	s.t.Helper()

	start := time.Now()
	var last string
	for {
		status, body, err := s.do(http.MethodGet, p.url("/readyz"), nil)
		if err == nil && status == http.StatusOK {
			return time.Since(start)
		}

		last = fmt.Sprintf("status %d, body %s", status, bytes.TrimSpace(body))
		if err != nil {
			last = err.Error()
		}

		if p.exited() {
			s.t.Fatalf("%s exited (%v) before it was ready; last /readyz: %s",
				p.name, p.err, last)
		}
		if time.Since(start) > timeout {
			s.t.Fatalf("%s not ready after %s; last /readyz: %s",
				p.name, timeout, last)
		}

		time.Sleep(100 * time.Millisecond)
	}
}

// startWriters starts posts-svc, comments-svc and moderation-svc and
// waits until they are ready. It returns posts-svc and comments-svc.
func (s *system) startWriters() (posts, comments *process) {
	s.t.Helper()

	posts = s.start("posts-svc")
	comments = s.start("comments-svc")
	moderation := s.start("moderation-svc")
	for _, p := range []*process{posts, comments, moderation} {
		s.waitReady(p, time.Minute)
	}

	return posts, comments
}

// rebuildResult is the outcome of one `query-svc rebuild` run.
type rebuildResult struct {
	code   int
	stdout string
	stderr string
}

// rebuild runs `query-svc rebuild` with the query service's environment
// and returns its exit status and output. It fails the test only when the
// command cannot run at all or runs longer than three minutes.
func (s *system) rebuild() rebuildResult {
	s.t.Helper()

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "query-svc"), "rebuild")
	cmd.Env = s.env("query-svc", "127.0.0.1:0", nil)
	cmd.SysProcAttr = childProcAttr()
	cmd.WaitDelay = 2 * time.Second

	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr

	start := time.Now()
	err := cmd.Run()
	s.logs.block("query-svc rebuild stdout", stdout.Bytes())
	s.logs.block("query-svc rebuild stderr", stderr.Bytes())

	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		s.t.Fatalf("run query-svc rebuild: %v", err)
	}
	if ctx.Err() != nil {
		s.t.Fatalf("query-svc rebuild still running after 3 minutes; killed")
	}

	res := rebuildResult{
		code:   cmd.ProcessState.ExitCode(),
		stdout: stdout.String(),
		stderr: stderr.String(),
	}
	s.t.Logf("query-svc rebuild exited with status %d after %s", res.code,
		time.Since(start).Round(time.Millisecond))

	return res
}

// freeAddr returns a 127.0.0.1 address with a port that was free a
// moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer ln.Close()

	return ln.Addr().String()
}
