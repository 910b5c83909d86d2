package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

var (
	requestDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "http_request_duration_seconds",
		Help:    "Duration of HTTP requests by route template, method and status.",
		Buckets: prometheus.DefBuckets,
	}, []string{"route", "method", "status"})
)

// Check is a readiness check of one dependency. Check returns an error
// that describes what is wrong.
type Check struct {
	Name  string
	Check func(ctx context.Context) error
}

// NewRouter returns a router with JSON 404 and 405 responses, request
// metrics, and the routes GET /healthz, GET /readyz (running checks) and
// GET /metrics.
func NewRouter(checks ...Check) *mux.Router {
	r := mux.NewRouter()
	r.NotFoundHandler = HandlerFunc(func(http.ResponseWriter, *http.Request) error {
		return NotFound("no route matches this path")
	})
	r.MethodNotAllowedHandler = HandlerFunc(
		func(http.ResponseWriter, *http.Request) error {
			return NewError(http.StatusMethodNotAllowed, "method_not_allowed",
				"this route does not accept that method")
		})
	r.Use(measure)

	r.Handle("/healthz", HandlerFunc(healthz)).Methods(http.MethodGet)
	r.Handle("/readyz", readyz(checks)).Methods(http.MethodGet)
	r.Handle("/metrics", promhttp.Handler()).Methods(http.MethodGet)

	return r
}

func healthz(w http.ResponseWriter, _ *http.Request) error {
	WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

type readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

func readyz(checks []Check) http.Handler {
	return HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()

		res := readiness{Status: "ready", Checks: map[string]string{}}
		status := http.StatusOK
		for _, c := range checks {
			if err := c.Check(ctx); err != nil {
				res.Checks[c.Name] = err.Error()
				res.Status = "not ready"
				status = http.StatusServiceUnavailable
				continue
			}
			res.Checks[c.Name] = "ok"
		}

		WriteJSON(w, status, res)
		return nil
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Flush passes through so streamed responses keep working.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func measure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)

		route := "unmatched"
		if m := mux.CurrentRoute(r); m != nil {
			if tpl, err := m.GetPathTemplate(); err == nil {
				route = tpl
			}
		}

		requestDuration.WithLabelValues(route, r.Method,
			strconv.Itoa(rec.status)).Observe(time.Since(start).Seconds())
	})
}
