package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer that a test can read while a process
// writes to it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()

	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()

	return b.buf.String()
}

// startScript starts a shell script as a service process and returns it
// with its output and the channel that receives it on exit.
func startScript(
	tb testing.TB,
	script string,
) (*process, *lockedBuffer, chan *process) {
	tb.Helper()

	bin := filepath.Join(tb.TempDir(), "svc")
	writeFile(tb, bin, "#!/bin/sh\n"+script)
	if err := os.Chmod(bin, 0o755); err != nil {
		tb.Fatalf("chmod: %v", err)
	}

	buf := &lockedBuffer{}
	exited := make(chan *process, 1)
	p, err := startProcess("test-svc", bin, tb.TempDir(), os.Environ(),
		&syncOutput{dst: buf}, exited)
	// A child forked by a parallel test can hold the script's write
	// descriptor for a moment, and exec then fails with ETXTBSY.
	for try := 0; errors.Is(err, syscall.ETXTBSY) && try < 50; try++ {
		time.Sleep(20 * time.Millisecond)
		p, err = startProcess("test-svc", bin, tb.TempDir(), os.Environ(),
			&syncOutput{dst: buf}, exited)
	}
	if err != nil {
		tb.Fatalf("startProcess: %v", err)
	}

	tb.Cleanup(func() {
		// Never leave the script running when a check fails early.
		syscall.Kill(-p.PID(), syscall.SIGKILL)
		<-p.done
	})

	return p, buf, exited
}

// waitForOutput waits until the output contains want, so the script has
// installed its signal trap before the test signals it.
func waitForOutput(tb testing.TB, buf *lockedBuffer, want string) {
	tb.Helper()

	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(buf.String(), want) {
			return
		}

		time.Sleep(20 * time.Millisecond)
	}

	tb.Fatalf("output has no %q after 5s", want)
}

// assertGroupGone checks that no process of the group is left. A killed
// grandchild stays a zombie until init reaps it, so it waits a little.
func assertGroupGone(tb testing.TB, pgid int) {
	tb.Helper()

	var err error
	for range 100 {
		err = syscall.Kill(-pgid, 0)
		if errors.Is(err, syscall.ESRCH) {
			return
		}

		time.Sleep(20 * time.Millisecond)
	}

	tb.Errorf("process group %d still exists after 2s (kill 0: %v)",
		pgid, err)
}

func TestProcess_stopSendsSIGTERM(t *testing.T) {
	t.Parallel()

	p, buf, _ := startScript(t, `trap 'echo got TERM; exit 0' TERM
echo started
while :; do sleep 0.1; done
`)
	waitForOutput(t, buf, "started")

	if err := p.Stop(5*time.Second, discardLogger()); err != nil {
		t.Errorf("Stop = %v, want a graceful exit", err)
	}

	if !strings.Contains(buf.String(), "test-svc       | got TERM\n") {
		t.Errorf("output %q has no prefixed TERM line", buf.String())
	}

	assertGroupGone(t, p.PID())
}

func TestProcess_stopKillsAfterTimeout(t *testing.T) {
	t.Parallel()

	p, buf, _ := startScript(t, `trap '' TERM
echo started
while :; do sleep 0.1; done
`)
	waitForOutput(t, buf, "started")

	start := time.Now()
	err := p.Stop(300*time.Millisecond, discardLogger())
	if got := exitDescription(err); got != "killed by SIGKILL" {
		t.Errorf("exit = %q, want killed by SIGKILL", got)
	}

	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("Stop took %v, want about the 300ms timeout", elapsed)
	}

	assertGroupGone(t, p.PID())
}

func TestProcess_exitIsReported(t *testing.T) {
	t.Parallel()

	_, _, exited := startScript(t, "exit 3\n")

	select {
	case p := <-exited:
		if got := exitDescription(p.err); got != "status 3" {
			t.Errorf("exit = %q, want status 3", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no exit reported after 5s")
	}
}
