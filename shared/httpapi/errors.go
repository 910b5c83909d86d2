// Package httpapi holds the HTTP plumbing every service shares: JSON
// decoding with the contract's limits, one error responder, health and
// metrics routes, and request metrics.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
)

// Error is an error with the HTTP status and machine-readable code sent to
// the client. Message is written for a person and names what to change.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string {
	return e.Code + ": " + e.Message
}

// NewError returns an *Error.
func NewError(status int, code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message}
}

// BadRequest returns a 400 *Error.
func BadRequest(code, message string) *Error {
	return NewError(http.StatusBadRequest, code, message)
}

// NotFound returns a 404 *Error.
func NotFound(message string) *Error {
	return NewError(http.StatusNotFound, "not_found", message)
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// WriteError sends err as the JSON error body. An *Error keeps its status.
// Any other error becomes a 500 whose details are logged, not sent. They
// are logged at level ERROR, or at INFO when the client went away (closed
// the connection or its sending side) and so cancelled the request's
// context, which is not a fault of the server.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	var apiErr *Error
	if !errors.As(err, &apiErr) {
		level := slog.LevelError
		msg := "request failed"
		if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
			level = slog.LevelInfo
			msg = "request cancelled: the client went away"
		}
		slog.Log(r.Context(), level, msg, "method", r.Method,
			"path", logPath(r), "error", err)
		apiErr = NewError(http.StatusInternalServerError, "internal",
			"the server could not complete the request; try again later")
	}

	var body errorBody
	body.Error.Code = apiErr.Code
	body.Error.Message = apiErr.Message
	WriteJSON(w, apiErr.Status, body)
}

// logPath returns the escaped path of r for a log line, cut to MaxEcho
// bytes and "…", so a hostile path cannot make a huge log line.
func logPath(r *http.Request) string {
	p := r.URL.EscapedPath()
	if len(p) <= MaxEcho {
		return p
	}

	return prefix(p) + "…"
}

// WriteJSON sends v as JSON with status. HTML characters are not escaped,
// so stored text comes back byte for byte.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)

	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// HandlerFunc is an HTTP handler that returns its error to the responder.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// ServeHTTP calls f and sends its error, if any, with WriteError.
func (f HandlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := f(w, r); err != nil {
		WriteError(w, r, err)
	}
}
