package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// service is one of the blog's services as the runner builds and runs it.
type service struct {
	// Name is the service's folder in the repository and its binary.
	Name string
	// Port is the HTTP port on 127.0.0.1.
	Port int
	// Database is the name of the service's own database.
	Database string
}

// setPortBase gives the services the ports from base on, in the order of
// services, in place of 4000 to 4003.
func setPortBase(base int) {
	for i := range services {
		services[i].Port = base + i
	}
}

// Addr returns the service's HTTP listen address.
func (s service) Addr() string {
	return fmt.Sprintf("127.0.0.1:%d", s.Port)
}

// services lists the blog's services with the ports and databases that
// the services, the ingress and the client agree on.
var services = []service{
	{Name: "posts-svc", Port: 4000, Database: "posts"},
	{Name: "comments-svc", Port: 4001, Database: "comments"},
	{Name: "query-svc", Port: 4002, Database: "query"},
	{Name: "moderation-svc", Port: 4003, Database: "moderation"},
}

// process is a running child process in a process group of its own. Its
// output goes line by line, with its name as a prefix, to the runner's
// output.
type process struct {
	name   string
	cmd    *exec.Cmd
	stdout *lineWriter
	stderr *lineWriter
	// done is closed when the process has exited and its output is
	// written. err is its exit error and valid only after then.
	done chan struct{}
	err  error
	// expectExit is set before the runner stops the process on purpose
	// while the rest keeps running, as a rebuild does.
	expectExit atomic.Bool
}

// startProcess starts bin with env in dir. exited receives the process
// once it has exited, whether it was stopped or not.
func startProcess(
	name, bin, dir string,
	env []string,
	out *syncOutput,
	exited chan<- *process,
) (*process, error) {
	p := &process{
		name:   name,
		stdout: newLineWriter(out, name, prefixWidth),
		stderr: newLineWriter(out, name, prefixWidth),
		done:   make(chan struct{}),
	}

	p.cmd = exec.Command(bin)
	p.cmd.Dir = dir
	p.cmd.Env = env
	p.cmd.Stdout = p.stdout
	p.cmd.Stderr = p.stderr
	p.cmd.SysProcAttr = childProcAttr()

	// A grandchild that keeps the output pipes open would block Wait
	// forever without a bound.
	p.cmd.WaitDelay = 2 * time.Second

	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}

	go func() {
		p.err = p.cmd.Wait()
		p.stdout.Close()
		p.stderr.Close()
		close(p.done)
		exited <- p
	}()

	return p, nil
}

// PID returns the process id, which is also its process group id.
func (p *process) PID() int {
	return p.cmd.Process.Pid
}

// Exited reports whether the process has exited.
func (p *process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM to the process group and waits for the process to
// exit. After timeout it sends SIGKILL to the group and waits again. It
// returns the exit error, which for a graceful stop is nil.
func (p *process) Stop(timeout time.Duration, log *slog.Logger) error {
	if p.Exited() {
		return p.err
	}

	// The group id is the child's pid, because it was started with
	// Setpgid. A negative pid signals the whole group.
	err := syscall.Kill(-p.PID(), syscall.SIGTERM)
	if err != nil && !errors.Is(err, syscall.ESRCH) {
		log.Error("send SIGTERM", "service", p.name, "pid", p.PID(),
			"error", err)
	}

	timer := time.NewTimer(timeout)
	defer timer.Stop()

	select {
	case <-p.done:
		return p.err
	case <-timer.C:
	}

	log.Warn("service did not stop in time; sending SIGKILL",
		"service", p.name, "pid", p.PID(), "timeout", timeout)
	err = syscall.Kill(-p.PID(), syscall.SIGKILL)
	if err != nil && !errors.Is(err, syscall.ESRCH) {
		log.Error("send SIGKILL", "service", p.name, "pid", p.PID(),
			"error", err)
	}

	<-p.done

	return p.err
}

// stopAll stops every process at the same time and blocks until all of
// them have exited.
func stopAll(procs []*process, timeout time.Duration, log *slog.Logger) {
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(func() {
			err := p.Stop(timeout, log)
			log.Info("service stopped", "service", p.name, "pid", p.PID(),
				"exit", exitDescription(err))
		})
	}

	wg.Wait()
}

// exitDescription describes how a process ended, for the log.
func exitDescription(err error) string {
	if err == nil {
		return "status 0"
	}

	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		return err.Error()
	}

	status, ok := exitErr.Sys().(syscall.WaitStatus)
	if ok && status.Signaled() {
		return "killed by " + signalName(status.Signal())
	}

	return fmt.Sprintf("status %d", exitErr.ExitCode())
}

// signalName returns the usual name of the signals the runner sends or
// meets, and the number with its description for the rest.
func signalName(sig syscall.Signal) string {
	switch sig {
	case syscall.SIGKILL:
		return "SIGKILL"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGSEGV:
		return "SIGSEGV"
	default:
		return fmt.Sprintf("signal %d (%s)", int(sig), sig)
	}
}

// serviceEnv returns the runner's environment with the service's own
// settings added last, so they win over inherited values of the same
// name.
func serviceEnv(s service, databaseURL, brokers string) []string {
	return append(os.Environ(),
		"HTTP_ADDR="+s.Addr(),
		"DATABASE_URL="+databaseURL,
		"KAFKA_BROKERS="+brokers,
	)
}

// checkPortFree returns an error when a TCP port on 127.0.0.1 is taken.
func checkPortFree(port int) error {
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		return fmt.Errorf("port %d on 127.0.0.1 is in use", port)
	}

	return ln.Close()
}
