package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRoute(t *testing.T) {
	t.Parallel()

	const id = "0193a7c2-5b1e-7c4d-9a3f-2b8e6d1c0f4a"
	tests := []struct {
		method string
		path   string
		want   target
	}{
		{http.MethodPost, "/posts/create", targetPosts},
		{http.MethodGet, "/posts/create", targetPosts},
		{http.MethodPost, "/posts", targetPosts},
		{http.MethodGet, "/posts", targetQuery},
		{http.MethodDelete, "/posts", targetQuery},
		{http.MethodGet, "/posts/" + id + "/comments", targetComments},
		{http.MethodPost, "/posts/" + id + "/comments", targetComments},
		{http.MethodPut, "/posts/" + id + "/comments", targetComments},
		{http.MethodGet, "/posts/" + id + "/comments/x", targetComments},
		{http.MethodGet, "/posts/" + id, targetQuery},
		{http.MethodPost, "/posts/" + id, targetQuery},
		{http.MethodGet, "/posts/", targetQuery},
		{http.MethodGet, "/posts/" + id + "/other", targetQuery},
		{http.MethodGet, "/", targetClient},
		{http.MethodGet, "/assets/x.js", targetClient},
		{http.MethodGet, "/healthz", targetClient},
		{http.MethodGet, "/postsx", targetClient},
		{http.MethodPost, "/comments", targetClient},
		{http.MethodPost, "/posts/" + id + "%2Fcomments", targetQuery},
		{http.MethodPost, "/posts/a%2Fb/comments", targetComments},
		{http.MethodPost, "//posts/create", targetClient},
	}

	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			t.Parallel()

			if got := route(tt.method, tt.path); got != tt.want {
				t.Errorf("route(%q, %q) = %q, want %q",
					tt.method, tt.path, got, tt.want)
			}
		})
	}
}

// TestRoute_queryString checks the decision on a full URL, because the
// router routes on URL.Path and never gets the query in it.
func TestRoute_queryString(t *testing.T) {
	t.Parallel()

	req := httptest.NewRequest(http.MethodGet, "/posts?limit=5", nil)
	if got := route(req.Method, req.URL.Path); got != targetQuery {
		t.Errorf("route(GET /posts?limit=5) = %q, want %q", got, targetQuery)
	}
}

func TestRouter_proxiesToService(t *testing.T) {
	t.Parallel()

	var gotPath, gotQuery string
	upstream := newLoopbackServer(t, http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			gotPath = r.URL.Path
			gotQuery = r.URL.RawQuery
			w.WriteHeader(http.StatusTeapot)
		}))

	addr := strings.TrimPrefix(upstream.URL, "http://")
	router := newRouter(map[target]string{targetQuery: addr}, t.TempDir(),
		discardLogger())

	rec := httptest.NewRecorder()
	router.ServeHTTP(rec, httptest.NewRequest(http.MethodGet,
		"/posts?limit=5", nil))

	if rec.Code != http.StatusTeapot {
		t.Errorf("status = %d, want %d from the upstream", rec.Code,
			http.StatusTeapot)
	}

	if gotPath != "/posts" {
		t.Errorf("upstream path = %q, want /posts", gotPath)
	}

	if gotQuery != "limit=5" {
		t.Errorf("upstream query = %q, want limit=5", gotQuery)
	}
}

func TestRouter_serviceDownReturns502(t *testing.T) {
	t.Parallel()

	addr := closedLoopbackAddr(t)
	router := newRouter(map[target]string{targetPosts: addr}, t.TempDir(),
		discardLogger())

	rec := httptest.NewRecorder()
	router.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/posts",
		strings.NewReader(`{"title":"x"}`)))

	if rec.Code != http.StatusBadGateway {
		t.Fatalf("status = %d, want 502", rec.Code)
	}

	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}

	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.NewDecoder(rec.Body).Decode(&body); err != nil {
		t.Fatalf("decode body: %v", err)
	}

	if body.Error.Code != "bad_gateway" {
		t.Errorf("error code = %q, want bad_gateway", body.Error.Code)
	}

	if !strings.Contains(body.Error.Message, "posts-svc") {
		t.Errorf("error message %q does not name posts-svc",
			body.Error.Message)
	}
}

func TestStaticHandler(t *testing.T) {
	t.Parallel()

	dist := t.TempDir()
	writeFile(t, filepath.Join(dist, "index.html"), "<html>app</html>")
	writeFile(t, filepath.Join(dist, "assets", "x.js"), "console.log(1)")
	handler := staticHandler{dir: dist}

	tests := []struct {
		name       string
		path       string
		wantStatus int
		wantBody   string
	}{
		{"root", "/", http.StatusOK, "<html>app</html>"},
		{"asset", "/assets/x.js", http.StatusOK, "console.log(1)"},
		{"app route", "/some/page", http.StatusOK, "<html>app</html>"},
		{"healthz", "/healthz", http.StatusOK, "<html>app</html>"},
		{"missing asset", "/assets/gone.js", http.StatusNotFound, ""},
		{"missing file", "/favicon.ico", http.StatusNotFound, ""},
		{"dot dot", "/../../etc/passwd", http.StatusBadRequest, ""},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.URL.Path = tt.path
			handler.ServeHTTP(rec, req)

			if rec.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d", rec.Code, tt.wantStatus)
			}

			if tt.wantBody != "" && rec.Body.String() != tt.wantBody {
				t.Errorf("body = %q, want %q", rec.Body.String(), tt.wantBody)
			}
		})
	}
}

// TestStaticHandler_notAPage covers requests that reach the static files
// but are meant for the API: a write method, or a path that cleans to a
// /posts route. They get a JSON error and never the index page.
func TestStaticHandler_notAPage(t *testing.T) {
	t.Parallel()

	dist := t.TempDir()
	writeFile(t, filepath.Join(dist, "index.html"), "<html>app</html>")
	handler := staticHandler{dir: dist}

	tests := []struct {
		method     string
		path       string
		wantStatus int
		wantCode   string
	}{
		{http.MethodPost, "/", http.StatusMethodNotAllowed, "method_not_allowed"},
		{http.MethodPut, "/", http.StatusMethodNotAllowed, "method_not_allowed"},
		{http.MethodDelete, "/some/page", http.StatusMethodNotAllowed, "method_not_allowed"},
		{http.MethodPost, "//posts/create", http.StatusNotFound, "not_found"},
		{http.MethodGet, "//posts/create", http.StatusNotFound, "not_found"},
		{http.MethodGet, "//posts", http.StatusNotFound, "not_found"},
	}

	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			t.Parallel()

			rec := httptest.NewRecorder()
			req := httptest.NewRequest(tt.method, "/", nil)
			req.URL.Path = tt.path
			handler.ServeHTTP(rec, req)

			if rec.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d", rec.Code, tt.wantStatus)
			}

			var body struct {
				Error struct{ Code string } `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q is not the JSON error: %v", rec.Body, err)
			}

			if body.Error.Code != tt.wantCode {
				t.Errorf("error code = %q, want %q", body.Error.Code, tt.wantCode)
			}
		})
	}
}

func TestStaticHandler_missingBuild(t *testing.T) {
	t.Parallel()

	handler := staticHandler{dir: filepath.Join(t.TempDir(), "dist")}
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))

	if rec.Code != http.StatusNotFound {
		t.Errorf("status = %d, want 404", rec.Code)
	}

	body, _ := io.ReadAll(rec.Body)
	if !strings.Contains(string(body), "npm --prefix client run build") {
		t.Errorf("body %q does not say how to build the client", body)
	}
}

// newLoopbackServer starts a test server on 127.0.0.1 and closes it at
// the end of the test.
func newLoopbackServer(tb testing.TB, h http.Handler) *httptest.Server {
	tb.Helper()

	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}

	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: h}}
	srv.Start()
	tb.Cleanup(srv.Close)

	return srv
}

// closedLoopbackAddr returns a 127.0.0.1 address that nothing listens on.
func closedLoopbackAddr(tb testing.TB) string {
	tb.Helper()

	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}

	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		tb.Fatalf("close listener: %v", err)
	}

	return addr
}

func writeFile(tb testing.TB, path, content string) {
	tb.Helper()

	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatalf("create folder: %v", err)
	}

	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		tb.Fatalf("write %s: %v", path, err)
	}
}

func discardLogger() *slog.Logger {
	return slog.New(slog.DiscardHandler)
}

// TestRouter_writeSurvivesHalfClose sends a POST through the router on a
// real connection and closes the sending side at once, as some clients
// do. The router must still return the service's response, not cancel the
// upstream request and write an empty 200.
func TestRouter_writeSurvivesHalfClose(t *testing.T) {
	t.Parallel()

	upstream := newLoopbackServer(t, http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(200 * time.Millisecond)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(`{"id":"p1"}`))
		}))

	addr := strings.TrimPrefix(upstream.URL, "http://")
	router := newLoopbackServer(t, newRouter(
		map[target]string{targetPosts: addr}, t.TempDir(), discardLogger()))

	conn, err := net.Dial("tcp", strings.TrimPrefix(router.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	body := `{"title":"x"}`
	fmt.Fprintf(conn, "POST /posts/create HTTP/1.1\r\nHost: blog\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n"+
		"Connection: close\r\n\r\n%s", len(body), body)
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}

	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read the response: %v", err)
	}
	defer resp.Body.Close()

	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated || string(got) != `{"id":"p1"}` {
		t.Errorf("response = %d %q, want 201 with the service's body",
			resp.StatusCode, got)
	}
}
