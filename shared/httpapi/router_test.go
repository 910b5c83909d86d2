package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

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
