package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gorilla/mux"

	"github.com/kafkablog/blog/shared/httpapi"
)

func TestNewRouter_errors(t *testing.T) {
	t.Parallel()

	router := httpapi.NewRouter()
	tests := []struct {
		name       string
		method     string
		path       string
		wantStatus int
		wantCode   string
	}{
		{"unknown path", http.MethodGet, "/nope", http.StatusNotFound,
			"not_found"},
		{"unknown nested path", http.MethodPost, "/posts/1/comments",
			http.StatusNotFound, "not_found"},
		{"POST to healthz", http.MethodPost, "/healthz",
			http.StatusMethodNotAllowed, "method_not_allowed"},
		{"DELETE to readyz", http.MethodDelete, "/readyz",
			http.StatusMethodNotAllowed, "method_not_allowed"},
		{"PUT to metrics", http.MethodPut, "/metrics",
			http.StatusMethodNotAllowed, "method_not_allowed"},
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()

			rec := httptest.NewRecorder()
			router.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))

			if rec.Code != tc.wantStatus {
				t.Fatalf("%s %s status = %d, want %d", tc.method, tc.path,
					rec.Code, tc.wantStatus)
			}
			body := decodeErrorBody(t, rec)
			if body.Error.Code != tc.wantCode {
				t.Errorf("error code = %q, want %q", body.Error.Code, tc.wantCode)
			}
		})
	}
}

func TestNewRouter_healthz(t *testing.T) {
	t.Parallel()

	rec := httptest.NewRecorder()
	httpapi.NewRouter().ServeHTTP(rec,
		httptest.NewRequest(http.MethodGet, "/healthz", nil))

	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200", rec.Code)
	}
	if got := strings.TrimSpace(rec.Body.String()); got != `{"status":"ok"}` {
		t.Errorf("body = %s, want {\"status\":\"ok\"}", got)
	}
}

func TestNewRouter_metrics(t *testing.T) {
	t.Parallel()

	router := httpapi.NewRouter()
	router.ServeHTTP(httptest.NewRecorder(),
		httptest.NewRequest(http.MethodGet, "/healthz", nil))

	rec := httptest.NewRecorder()
	router.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))

	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200", rec.Code)
	}
	want := `http_request_duration_seconds_count{method="GET",route="/healthz"`
	if !strings.Contains(rec.Body.String(), want) {
		t.Errorf("metrics do not contain %s", want)
	}
}

type readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

func TestNewRouter_readyz(t *testing.T) {
	t.Parallel()

	ok := func(context.Context) error { return nil }
	down := func(context.Context) error { return errors.New("broker down") }

	tests := []struct {
		name       string
		checks     []httpapi.Check
		wantStatus int
		want       readiness
	}{
		{"no checks", nil, http.StatusOK,
			readiness{Status: "ready", Checks: map[string]string{}}},
		{"all pass", []httpapi.Check{{Name: "postgres", Check: ok},
			{Name: "kafka", Check: ok}}, http.StatusOK,
			readiness{Status: "ready",
				Checks: map[string]string{"postgres": "ok", "kafka": "ok"}}},
		{"one fails", []httpapi.Check{{Name: "postgres", Check: ok},
			{Name: "kafka", Check: down}}, http.StatusServiceUnavailable,
			readiness{Status: "not ready", Checks: map[string]string{
				"postgres": "ok", "kafka": "broker down"}}},
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()

			rec := httptest.NewRecorder()
			httpapi.NewRouter(tc.checks...).ServeHTTP(rec,
				httptest.NewRequest(http.MethodGet, "/readyz", nil))

			if rec.Code != tc.wantStatus {
				t.Errorf("status = %d, want %d", rec.Code, tc.wantStatus)
			}
			if got := rec.Header().Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", got)
			}

			var got readiness
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("decode readiness body %q: %v", rec.Body.String(), err)
			}
			if got.Status != tc.want.Status {
				t.Errorf("status field = %q, want %q", got.Status, tc.want.Status)
			}
			if len(got.Checks) != len(tc.want.Checks) {
				t.Errorf("checks = %v, want %v", got.Checks, tc.want.Checks)
			}
			for name, want := range tc.want.Checks {
				if got.Checks[name] != want {
					t.Errorf("check %s = %q, want %q", name, got.Checks[name], want)
				}
			}
		})
	}
}

func TestNewRouter_readyzCheckDeadline(t *testing.T) {
	t.Parallel()

	var hasDeadline bool
	check := httpapi.Check{Name: "slow", Check: func(ctx context.Context) error {
		_, hasDeadline = ctx.Deadline()
		return nil
	}}

	rec := httptest.NewRecorder()
	httpapi.NewRouter(check).ServeHTTP(rec,
		httptest.NewRequest(http.MethodGet, "/readyz", nil))

	if !hasDeadline {
		t.Errorf("check context has no deadline, want a bounded check")
	}
}

func TestWriteError(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantCode   string
	}{
		{"API error keeps its status", httpapi.NotFound("post not found"),
			http.StatusNotFound, "not_found"},
		{"wrapped API error", errors.Join(errors.New("context"),
			httpapi.BadRequest("invalid_id", "bad id")),
			http.StatusBadRequest, "invalid_id"},
		{"other error hidden", errors.New("pq: password=secret"),
			http.StatusInternalServerError, "internal"},
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()

			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, "/posts", nil)
			httpapi.WriteError(rec, req, tc.err)

			if rec.Code != tc.wantStatus {
				t.Errorf("status = %d, want %d", rec.Code, tc.wantStatus)
			}
			body := decodeErrorBody(t, rec)
			if body.Error.Code != tc.wantCode {
				t.Errorf("code = %q, want %q", body.Error.Code, tc.wantCode)
			}
			if strings.Contains(rec.Body.String(), "secret") {
				t.Errorf("body %s leaks the internal error", rec.Body)
			}
		})
	}
}

func TestWriteJSON_keepsHTMLCharacters(t *testing.T) {
	t.Parallel()

	rec := httptest.NewRecorder()
	httpapi.WriteJSON(rec, http.StatusCreated,
		map[string]string{"content": "<b>a & b</b>"})

	if rec.Code != http.StatusCreated {
		t.Errorf("status = %d, want 201", rec.Code)
	}
	want := `{"content":"<b>a & b</b>"}`
	if got := strings.TrimSpace(rec.Body.String()); got != want {
		t.Errorf("body = %s, want %s", got, want)
	}
	if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q, want nosniff", got)
	}
}

const validID = "0193a7c2-5b1e-7c3d-8e4f-123456789abc"

// blogRouter returns NewRouter with the services' route shapes: POST
// /posts and /posts/create, GET /posts and /posts/{id}, POST and GET
// /posts/{id}/comments. Each handler parses {id} as the services do,
// counts its calls in calls and echoes the method and the id.
func blogRouter(calls *atomic.Int32) *mux.Router {
	r := httpapi.NewRouter()
	echo := httpapi.HandlerFunc(func(w http.ResponseWriter, req *http.Request) error {
		if v, ok := mux.Vars(req)["id"]; ok {
			if _, err := httpapi.ParseID("post id", v); err != nil {
				return err
			}
		}
		calls.Add(1)
		httpapi.WriteJSON(w, http.StatusOK, map[string]string{
			"method": req.Method, "id": mux.Vars(req)["id"]})
		return nil
	})

	r.Handle("/posts", echo).Methods(http.MethodPost)
	r.Handle("/posts/create", echo).Methods(http.MethodPost)
	r.Handle("/posts", echo).Methods(http.MethodGet)
	r.Handle("/posts/{id}", echo).Methods(http.MethodGet)
	r.Handle("/posts/{id}/comments", echo).
		Methods(http.MethodPost, http.MethodGet)

	return r
}

// TestNewRouter_pathTricks sends the paths an attacker used. mux used to
// clean them and redirect with an empty 301 redirect, or match on the
// decoded path so that %2F split a segment. Each must get the JSON 404,
// or 400 invalid_id where the id segment is malformed, and reach no
// handler. A POST whose path has one segment after /posts matches the
// GET /posts/{id} route here, so it gets 405.
func TestNewRouter_pathTricks(t *testing.T) {
	t.Parallel()

	tests := []struct {
		method     string
		path       string
		wantStatus int
		wantCode   string
	}{
		{http.MethodPost, "/posts/../posts/create", 404, "not_found"},
		{http.MethodPost, "/posts/./create", 404, "not_found"},
		{http.MethodPost, "/posts/%2e%2e/posts/create", 404, "not_found"},
		{http.MethodPost, "/posts/%2E%2E/posts/create", 404, "not_found"},
		{http.MethodPost, "/posts//comments", 404, "not_found"},
		{http.MethodPost, "//posts/create", 404, "not_found"},
		{http.MethodPost, "//posts", 404, "not_found"},
		{http.MethodPost, "/posts/create/", 404, "not_found"},
		{http.MethodPost, "/posts/create/.", 404, "not_found"},
		{http.MethodPost, "/posts%2Fcreate", 404, "not_found"},
		{http.MethodPost, "/posts/%63reate", 405, "method_not_allowed"},
		{http.MethodPost, "/posts/" + validID + "%2Fcomments", 405,
			"method_not_allowed"},
		{http.MethodPost, "/posts/" + validID + "%2fcomments", 405,
			"method_not_allowed"},
		{http.MethodPost, "/posts/" + validID + "/./comments", 404,
			"not_found"},
		{http.MethodPost, "/posts/x/../" + validID + "/comments", 404,
			"not_found"},
		{http.MethodPost, "//posts/" + validID + "/comments", 404,
			"not_found"},
		{http.MethodPost, "/posts/a%2Fb/comments", 400, "invalid_id"},
		{http.MethodPost, "/posts/%2e%2e/comments", 400, "invalid_id"},
		{http.MethodPost, "/posts/../comments", 400, "invalid_id"},
		{http.MethodPost, "/posts/" + validID + "%2F..%2F" + validID +
			"/comments", 400, "invalid_id"},
		{http.MethodGet, "/posts/" + validID + "%2Fcomments", 400,
			"invalid_id"},
		{http.MethodGet, "/posts/.", 400, "invalid_id"},
		{http.MethodGet, "/posts/", 404, "not_found"},
		{http.MethodGet, "//posts", 404, "not_found"},
		{http.MethodGet, "/posts/./" + validID, 404, "not_found"},
		{http.MethodGet, "/./posts", 404, "not_found"},
		{http.MethodGet, "/healthz/..", 404, "not_found"},
	}

	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			t.Parallel()

			var calls atomic.Int32
			rec := httptest.NewRecorder()
			blogRouter(&calls).ServeHTTP(rec,
				httptest.NewRequest(tc.method, tc.path, nil))

			if rec.Code != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", rec.Code,
					tc.wantStatus, rec.Body)
			}
			if loc := rec.Header().Get("Location"); loc != "" {
				t.Errorf("Location = %q, want no redirect", loc)
			}
			body := decodeErrorBody(t, rec)
			if body.Error.Code != tc.wantCode {
				t.Errorf("error code = %q, want %q", body.Error.Code,
					tc.wantCode)
			}
			if n := calls.Load(); n != 0 {
				t.Errorf("a handler ran %d times, want 0", n)
			}
		})
	}
}

// TestNewRouter_varsDecoded checks that the router, which matches the
// encoded path, hands handlers decoded route variables.
func TestNewRouter_varsDecoded(t *testing.T) {
	t.Parallel()

	upper := strings.ToUpper(validID)
	tests := []struct {
		method string
		path   string
		wantID string
	}{
		{http.MethodGet, "/posts/" + validID, validID},
		{http.MethodGet, "/posts/" + upper, upper},
		{http.MethodGet, "/posts/%30193a7c2-5b1e-7c3d-8e4f-123456789abc",
			validID},
		{http.MethodPost, "/posts/0193a7c2%2D5b1e-7c3d-8e4f-123456789%61bc" +
			"/comments", validID},
		{http.MethodGet, "/posts/" + validID + "/comments", validID},
		{http.MethodGet, "/posts?limit=1", ""},
		{http.MethodPost, "/posts/create", ""},
	}

	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			t.Parallel()

			var calls atomic.Int32
			rec := httptest.NewRecorder()
			blogRouter(&calls).ServeHTTP(rec,
				httptest.NewRequest(tc.method, tc.path, nil))

			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200; body %s", rec.Code,
					rec.Body)
			}
			var got map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("decode %s: %v", rec.Body, err)
			}
			if got["id"] != tc.wantID {
				t.Errorf("id = %q, want %q", got["id"], tc.wantID)
			}
		})
	}
}

// TestNewRouter_head checks that HEAD is served wherever GET is, and
// that the HTTP server sends no body for it.
func TestNewRouter_head(t *testing.T) {
	t.Parallel()

	var calls atomic.Int32
	srv := httptest.NewServer(blogRouter(&calls))
	t.Cleanup(srv.Close)

	tests := []struct {
		path       string
		wantStatus int
	}{
		{"/healthz", http.StatusOK},
		{"/readyz", http.StatusOK},
		{"/metrics", http.StatusOK},
		{"/posts", http.StatusOK},
		{"/posts?limit=5", http.StatusOK},
		{"/posts/" + validID, http.StatusOK},
		{"/posts/" + validID + "/comments", http.StatusOK},
		{"/posts/not-a-uuid", http.StatusBadRequest},
		// GET /posts/create is GET /posts/{id} with a malformed id.
		{"/posts/create", http.StatusBadRequest},
		{"/nope", http.StatusNotFound},
		{"//posts", http.StatusNotFound},
	}

	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			t.Parallel()

			res, err := http.Head(srv.URL + tc.path)
			if err != nil {
				t.Fatalf("HEAD %s: %v", tc.path, err)
			}
			defer res.Body.Close()

			body, err := io.ReadAll(res.Body)
			if err != nil {
				t.Fatalf("read body: %v", err)
			}
			if res.StatusCode != tc.wantStatus {
				t.Errorf("status = %d, want %d", res.StatusCode,
					tc.wantStatus)
			}
			if len(body) != 0 {
				t.Errorf("body = %q, want none for HEAD", body)
			}
			if loc := res.Header.Get("Location"); loc != "" {
				t.Errorf("Location = %q, want no redirect", loc)
			}
		})
	}
}

func TestNewRouter_headMetrics(t *testing.T) {
	t.Parallel()

	router := httpapi.NewRouter()
	router.ServeHTTP(httptest.NewRecorder(),
		httptest.NewRequest(http.MethodHead, "/healthz", nil))

	rec := httptest.NewRecorder()
	router.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))

	want := `http_request_duration_seconds_count{method="HEAD",` +
		`route="/healthz",status="200"}`
	if !strings.Contains(rec.Body.String(), want) {
		t.Errorf("metrics do not contain %s", want)
	}
}

// logRecorder is a slog.Handler that keeps every record.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, r)
	return nil
}

func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }

func (l *logRecorder) WithGroup(string) slog.Handler { return l }

// captureLogs sends the default logger to a recorder until the test ends.
// Tests that call it must not run in parallel.
func captureLogs(t testing.TB) *logRecorder {
	t.Helper()

	rec := &logRecorder{}
	old := slog.Default()
	slog.SetDefault(slog.New(rec))
	t.Cleanup(func() { slog.SetDefault(old) })

	return rec
}

// TestWriteError_clientGone covers a handler that fails because its
// client went away: the error is logged at INFO, not ERROR. Not parallel:
// it replaces the default logger.
func TestWriteError_clientGone(t *testing.T) {
	logs := captureLogs(t)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequest(http.MethodGet, "/posts/"+
		strings.Repeat("x", 100_000), nil).WithContext(ctx)
	rec := httptest.NewRecorder()
	httpapi.WriteError(rec, req, context.Canceled)
	httpapi.WriteError(rec, req, errors.Join(errors.New("select posts"),
		context.Canceled))

	live := httptest.NewRequest(http.MethodGet, "/posts", nil)
	httpapi.WriteError(httptest.NewRecorder(), live, context.Canceled)

	want := []slog.Level{slog.LevelInfo, slog.LevelInfo, slog.LevelError}
	if len(logs.records) != len(want) {
		t.Fatalf("got %d log records, want %d", len(logs.records), len(want))
	}
	for i, r := range logs.records {
		if r.Level != want[i] {
			t.Errorf("record %d %q at %s, want %s", i, r.Message, r.Level,
				want[i])
		}
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "path" && len(a.Value.String()) > 100 {
				t.Errorf("record %d logs a path of %d bytes", i,
					len(a.Value.String()))
			}
			return true
		})
	}
}

func TestDetach(t *testing.T) {
	t.Parallel()

	type key struct{}
	parent, cancel := context.WithCancel(
		context.WithValue(context.Background(), key{}, "v"))
	req := httptest.NewRequest(http.MethodPost, "/posts", nil).
		WithContext(parent)

	ctx, stop := httpapi.Detach(req, httpapi.WriteTimeout)
	defer stop()
	cancel()

	if ctx.Err() != nil {
		t.Errorf("detached context ended with its request: %v", ctx.Err())
	}
	if ctx.Value(key{}) != "v" {
		t.Errorf("detached context lost the request's values")
	}
	if _, ok := ctx.Deadline(); !ok {
		t.Errorf("detached context has no deadline")
	}
}

// TestNewRouter_allowHeader checks that a 405 names the methods the path
// does serve, in the Allow header and in the message.
func TestNewRouter_allowHeader(t *testing.T) {
	t.Parallel()

	r := httpapi.NewRouter()
	ok := httpapi.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) error {
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
	r.Handle("/read", ok).Methods(http.MethodGet)
	r.Handle("/write", ok).Methods(http.MethodPost)

	tests := []struct {
		method, path, wantAllow string
	}{
		{http.MethodPost, "/read", "GET, HEAD"},
		{http.MethodDelete, "/read", "GET, HEAD"},
		{http.MethodGet, "/write", "POST"},
		{http.MethodPut, "/write", "POST"},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))

		if rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: status %d, want 405", tt.method, tt.path, rec.Code)
			continue
		}
		if got := rec.Header().Get("Allow"); got != tt.wantAllow {
			t.Errorf("%s %s: Allow = %q, want %q", tt.method, tt.path, got, tt.wantAllow)
		}
		if !strings.Contains(rec.Body.String(), "method_not_allowed") {
			t.Errorf("%s %s: body %s, want the method_not_allowed error",
				tt.method, tt.path, rec.Body)
		}
	}
}
