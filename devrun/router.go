package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// target names where the router sends a request: a service, or the
// client's static files.
type target string

// The router's targets. The service targets are the services' names.
const (
	targetPosts    target = "posts-svc"
	targetComments target = "comments-svc"
	targetQuery    target = "query-svc"
	targetClient   target = "client"
)

// route returns the target of a request, deciding as the ingress does,
// by method and escaped path only, so an encoded slash (%2F) stays inside
// its segment:
//
//   - POST /posts and any method on /posts/create go to posts-svc, which
//     returns 405 for a method it does not serve.
//   - /posts/{id}/comments and every path under it go to comments-svc.
//   - Any other method on /posts, and every other path under /posts/,
//     such as /posts/{id}, go to query-svc, which returns 404 or 405.
//   - Every other path goes to the client's static files.
func route(method, urlPath string) target {
	if urlPath == "/posts" {
		if method == http.MethodPost {
			return targetPosts
		}

		return targetQuery
	}

	rest, ok := strings.CutPrefix(urlPath, "/posts/")
	if !ok {
		return targetClient
	}

	if rest == "create" {
		return targetPosts
	}

	segments := strings.Split(rest, "/")
	if len(segments) >= 2 && segments[1] == "comments" {
		return targetComments
	}

	return targetQuery
}

// newRouter returns the handler that sends each request to the target
// that route picks. upstreams maps each service target to its host:port.
func newRouter(
	upstreams map[target]string,
	distDir string,
	log *slog.Logger,
) http.Handler {
	proxies := make(map[target]http.Handler, len(upstreams))
	for t, addr := range upstreams {
		proxies[t] = newProxy(t, addr, log)
	}

	static := staticHandler{dir: distDir}

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t := route(r.Method, r.URL.EscapedPath())
		if proxy, ok := proxies[t]; ok {
			proxy.ServeHTTP(w, r)
			return
		}

		static.ServeHTTP(w, r)
	})
}

// newProxy returns a reverse proxy to the service t at addr. It keeps the
// request's Host header, as the ingress does, and responds 502 with a JSON
// error body when the service cannot be reached.
func newProxy(t target, addr string, log *slog.Logger) http.Handler {
	upstream := &url.URL{Scheme: "http", Host: addr}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	// A service that accepts a request and never responds must not hold
	// the caller forever.
	transport.ResponseHeaderTimeout = proxyResponseTimeout

	return &httputil.ReverseProxy{
		Transport: transport,
		Rewrite: func(r *httputil.ProxyRequest) {
			// A write goes through even if the client closes its side
			// after sending, because the services carry a valid write out.
			// The client then gets the service's response, not an empty 200.
			if r.In.Method != http.MethodGet && r.In.Method != http.MethodHead {
				r.Out = r.Out.WithContext(context.WithoutCancel(r.In.Context()))
			}
			r.SetURL(upstream)
			r.SetXForwarded()
			r.Out.Host = r.In.Host
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(err, context.Canceled) {
				// The client went away, so no one reads the response.
				return
			}

			log.Warn("proxy request failed", "service", string(t),
				"method", r.Method, "path", r.URL.Path, "error", err)
			msg := fmt.Sprintf("%s at %s did not respond: %v; see its log "+
				"lines in the runner's output", t, addr, err)
			writeJSONError(w, http.StatusBadGateway, "bad_gateway", msg)
		},
	}
}

// proxyResponseTimeout bounds the wait for a service's response headers.
// The services respond within their own timeouts well before it.
const proxyResponseTimeout = 30 * time.Second

// writeJSONError writes the error body that the services use:
// {"error": {"code": "…", "message": "…"}}.
func writeJSONError(w http.ResponseWriter, status int, code, msg string) {
	body := map[string]map[string]string{
		"error": {"code": code, "message": msg},
	}

	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)

	// The status is sent; a failed body write has no one to report to.
	_ = json.NewEncoder(w).Encode(body)
}

// staticHandler serves the built client from dir. A path that names no
// file gets index.html, so the single page app handles its own routes.
// A path that looks like an asset (it has a file extension or lies under
// /assets/) gets 404 instead, so a missing script is not served as HTML.
type staticHandler struct {
	dir string
}

// ServeHTTP implements http.Handler.
func (h staticHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// A path such as //posts/create names no API route and no page, so
	// it gets the API's JSON 404 rather than the client's index page.
	if clean := path.Clean("/" + r.URL.Path); clean == "/posts" ||
		strings.HasPrefix(clean, "/posts/") {
		writeJSONError(w, http.StatusNotFound, "not_found",
			"no route matches the path "+strconvQuote(r.URL.EscapedPath()))
		return
	}

	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSONError(w, http.StatusMethodNotAllowed, "method_not_allowed",
			"method "+r.Method+" is not allowed on the client's pages; "+
				"use GET or HEAD")
		return
	}

	index := filepath.Join(h.dir, "index.html")
	if _, err := os.Stat(index); err != nil {
		http.Error(w, fmt.Sprintf("The client is not built: %s is "+
			"missing. Run `npm --prefix client ci && npm --prefix client "+
			"run build`, or restart the runner without DEV_SKIP_CLIENT so "+
			"it builds the client.", index), http.StatusNotFound)
		return
	}

	fsys := os.DirFS(h.dir)
	clean := path.Clean("/" + r.URL.Path)
	name := strings.TrimPrefix(clean, "/")

	if name != "" {
		info, err := fs.Stat(fsys, name)
		if err == nil && !info.IsDir() {
			http.ServeFileFS(w, r, fsys, name)
			return
		}

		if path.Ext(clean) != "" || strings.HasPrefix(clean, "/assets/") {
			http.NotFound(w, r)
			return
		}
	}

	// A rebuilt client must show on the next reload.
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeFileFS(w, r, fsys, "index.html")
}

// routerServer is the router's running HTTP server.
type routerServer struct {
	srv  *http.Server
	done chan error
}

// startRouter listens on addr and serves handler in the background. It
// fails at once when addr is taken.
func startRouter(
	addr string,
	handler http.Handler,
	log *slog.Logger,
) (*routerServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("BLOG_ADDR: listen on %s: %w: set BLOG_ADDR "+
			"to a free address, such as 127.0.0.1:8081", addr, err)
	}

	s := &routerServer{
		srv: &http.Server{
			Handler:           handler,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       60 * time.Second,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
		done: make(chan error, 1),
	}

	go func() {
		err := s.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}

		s.done <- err
	}()

	return s, nil
}

// Stop stops accepting requests and waits up to timeout for running
// requests to finish, then closes the remaining connections.
func (s *routerServer) Stop(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	if err := s.srv.Shutdown(ctx); err != nil {
		s.srv.Close()
		return fmt.Errorf("shut down router: %w", err)
	}

	return <-s.done
}

// strconvQuote quotes s for an error message, cutting it to its first
// 64 bytes so a long hostile path is not echoed in full.
func strconvQuote(s string) string {
	const limit = 64
	if len(s) > limit {
		return strconv.Quote(strings.ToValidUTF8(s[:limit], "")) +
			fmt.Sprintf(" (cut from %d bytes)", len(s))
	}

	return strconv.Quote(s)
}
