package httpapi

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
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
//
// Routes match the path as the client sent it. It is not cleaned, so
// "//posts", "/posts/./create" or "/posts/../posts/create" match no route
// and get the JSON 404 instead of a redirect. It is still encoded, so
// "%2F" stays inside its segment. Route variables are decoded before a
// handler reads them with mux.Vars. A HEAD request is served by the route
// that serves GET, and the HTTP server sends no body for it.
func NewRouter(checks ...Check) *mux.Router {
	r := mux.NewRouter().SkipClean(true).UseEncodedPath()
	r.NotFoundHandler = HandlerFunc(func(http.ResponseWriter, *http.Request) error {
		return NotFound("no route matches this path")
	})
	r.MethodNotAllowedHandler = headAsGet(r, HandlerFunc(
		func(w http.ResponseWriter, req *http.Request) error {
			allowed := allowedMethods(r, req)
			if len(allowed) == 0 {
				return NewError(http.StatusMethodNotAllowed, "method_not_allowed",
					"this route does not accept that method")
			}

			w.Header().Set("Allow", strings.Join(allowed, ", "))
			return NewError(http.StatusMethodNotAllowed, "method_not_allowed",
				"method "+Quote(req.Method)+" is not allowed here; use "+
					strings.Join(allowed, " or "))
		}))
	r.Use(measure, decodeVars)

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

// decodeVars replaces each route variable, which the router took from the
// encoded path, by its decoded value. A variable that does not decode is
// left as it is, for the handler's check to reject.
func decodeVars(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// mux.Vars returns the map that the router made for this request.
		vars := mux.Vars(r)
		for k, v := range vars {
			if d, err := url.PathUnescape(v); err == nil {
				vars[k] = d
			}
		}

		next.ServeHTTP(w, r)
	})
}

type headKey struct{}

// headAsGet serves a HEAD request that matched a route's path but not its
// methods as a GET request when a route serves GET there, and passes any
// other request to next. The server still treats the request as HEAD, so
// it sends the headers without the body.
func headAsGet(router *mux.Router, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}

		get := r.Clone(context.WithValue(r.Context(), headKey{}, true))
		get.Method = http.MethodGet
		var match mux.RouteMatch
		if !router.Match(get, &match) || match.MatchErr != nil {
			next.ServeHTTP(w, r)
			return
		}

		router.ServeHTTP(w, get)
	})
}

// allowedMethods lists the methods that some route of router serves at
// req's path, HEAD included wherever GET is, for the Allow header of a
// 405 response.
func allowedMethods(router *mux.Router, req *http.Request) []string {
	var allowed []string
	for _, method := range []string{http.MethodGet, http.MethodHead,
		http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := req.Clone(req.Context())
		probe.Method = method
		if method == http.MethodHead {
			probe.Method = http.MethodGet
			if !slices.Contains(allowed, http.MethodGet) {
				continue
			}
		}

		var match mux.RouteMatch
		if router.Match(probe, &match) && match.MatchErr == nil {
			allowed = append(allowed, method)
		}
	}

	return allowed
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

// Unwrap lets http.ResponseController reach the server's writer, so a
// streaming handler can set its own write deadlines past the server's
// WriteTimeout.
func (s *statusRecorder) Unwrap() http.ResponseWriter {
	return s.ResponseWriter
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

		method := r.Method
		if r.Context().Value(headKey{}) != nil {
			method = http.MethodHead
		}

		requestDuration.WithLabelValues(route, method,
			strconv.Itoa(rec.status)).Observe(time.Since(start).Seconds())
	})
}
