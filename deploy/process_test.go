package deploy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// instance is one running service process, like one pod.
type instance struct {
	image string
	addr  string
	log   string
	cmd   *exec.Cmd
	done  chan struct{}
	err   error
	// exited is when Wait returned.
	exited time.Time
}

// startInstance runs binary with exactly env (nothing of the test's own
// environment) and args, with its output in a log file.
func startInstance(t *testing.T, image, binary string, env map[string]string,
	args ...string) *instance {
	t.Helper()

	logFile, err := os.CreateTemp(t.TempDir(), image+"-*.log")
	if err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(binary, args...)
	for _, k := range sortedKeys(env) {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", image, err)
	}

	inst := &instance{image: image, addr: env["HTTP_ADDR"], log: logFile.Name(),
		cmd: cmd, done: make(chan struct{})}
	go func() {
		inst.err = cmd.Wait()
		inst.exited = time.Now()
		logFile.Close()
		close(inst.done)
	}()

	t.Cleanup(func() {
		inst.terminate(15 * time.Second)
		if t.Failed() {
			t.Logf("last lines of %s (%s):\n%s", image, inst.log, inst.logTail(15))
		}
	})

	return inst
}

// terminate sends SIGTERM and, after grace, SIGKILL.
func (i *instance) terminate(grace time.Duration) {
	select {
	case <-i.done:
		return
	default:
	}

	i.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-i.done:
	case <-time.After(grace):
		i.cmd.Process.Kill()
		<-i.done
	}
}

// stop sends SIGTERM, as the kubelet does, and waits for the exit up to
// limit. It returns the time from the signal to the exit.
func (i *instance) stop(limit time.Duration) (time.Duration, error) {
	sent := time.Now()
	if err := i.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return 0, err
	}

	select {
	case <-i.done:
		return i.exited.Sub(sent), i.err
	case <-time.After(limit):
		i.cmd.Process.Kill()
		<-i.done
		return limit, fmt.Errorf("still running %s after SIGTERM; killed", limit)
	}
}

func (i *instance) logTail(n int) string {
	data, err := os.ReadFile(i.log)
	if err != nil {
		return err.Error()
	}

	return tail(string(data), n)
}

// waitHTTP polls GET path until it returns 200, the process exits or
// timeout passes.
func (i *instance) waitHTTP(path string, timeout time.Duration) error {
	client := &http.Client{Timeout: 3 * time.Second}
	deadline := time.Now().Add(timeout)
	last := "no answer"
	for time.Now().Before(deadline) {
		select {
		case <-i.done:
			return fmt.Errorf("%s exited (%v) before %s answered 200:\n%s",
				i.image, i.err, path, i.logTail(15))
		default:
		}

		resp, err := client.Get("http://" + i.addr + path)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}

	return fmt.Errorf("%s %s not 200 after %s: %s", i.image, path, timeout, last)
}

// endpoints holds the ready instances of each image, like the endpoints
// of the Service that selects its pods, and picks them in turn.
type endpoints struct {
	mu    sync.Mutex
	addrs map[string][]string
	next  map[string]int
}

func newEndpoints() *endpoints {
	return &endpoints{addrs: map[string][]string{}, next: map[string]int{}}
}

func (e *endpoints) set(image string, addrs ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()

	e.addrs[image] = slices.Clone(addrs)
}

func (e *endpoints) pick(image string) (string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()

	addrs := e.addrs[image]
	if len(addrs) == 0 {
		return "", false
	}
	e.next[image]++

	return addrs[e.next[image]%len(addrs)], true
}

// newIngressProxy serves 127.0.0.1 like ingress-nginx with the manifests'
// Ingress: it routes each path with router, follows the Service to the
// image of the workload it selects, and proxies to a ready instance of
// that image. A route without an instance returns 503 and a failed
// connection 502, as ingress-nginx does.
func newIngressProxy(t *testing.T, set Set, router *Router, eps *endpoints) *httptest.Server {
	t.Helper()

	imageOf := map[string]string{}
	for _, svc := range set.Services() {
		for _, w := range selectedWorkloads(set, svc) {
			imageOf[svc.Name] = ImageName(w.Template.Spec.Containers[0].Image)
		}
	}

	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme = "http"
			r.Out.URL.Host = r.In.Header.Get("X-Backend")
			r.Out.Header.Del("X-Backend")
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, _ error) {
			w.WriteHeader(http.StatusBadGateway)
		},
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		loc, ok := router.Route(r.URL.Path)
		if !ok {
			http.NotFound(w, r)
			return
		}
		addr, ok := eps.pick(imageOf[loc.Service])
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		r.Header.Set("X-Backend", addr)
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	return srv
}

// localAddr returns a free 127.0.0.1 address.
func localAddr(t testing.TB) string {
	t.Helper()

	return "127.0.0.1:" + strconv.Itoa(freePort(t))
}

// runToExit runs binary with env and args and returns its output.
func runToExit(ctx context.Context, binary string, env map[string]string,
	args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, binary, args...)
	for _, k := range sortedKeys(env) {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	out, err := cmd.CombinedOutput()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return string(out), fmt.Errorf("%s timed out", filepath.Base(binary))
	}

	return string(out), err
}
