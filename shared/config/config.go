// Package config reads service settings from environment variables. A
// Reader collects every invalid value, so a service reports all of them at
// once and each message names its variable.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Reader reads typed values from environment variables.
type Reader struct {
	lookup func(string) (string, bool)
	errs   []error
}

// New returns a Reader over the process environment.
func New() *Reader {
	return &Reader{lookup: os.LookupEnv}
}

// NewFromMap returns a Reader over env, for tests and tools.
func NewFromMap(env map[string]string) *Reader {
	return &Reader{lookup: func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}}
}

func (r *Reader) value(name string) (string, bool) {
	v, ok := r.lookup(name)
	if !ok {
		return "", false
	}

	v = strings.TrimSpace(v)
	return v, v != ""
}

// Fail records an error about variable name.
func (r *Reader) Fail(name, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.errs = append(r.errs, fmt.Errorf("%s: %s", name, msg))
}

// String returns the variable's value, or def when it is unset or empty.
func (r *Reader) String(name, def string) string {
	v, ok := r.value(name)
	if !ok {
		return def
	}

	return v
}

// Int returns the variable as an integer in [lo, hi], or def when unset.
func (r *Reader) Int(name string, def, lo, hi int) int {
	v, ok := r.value(name)
	if !ok {
		return def
	}

	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		r.Fail(name, "invalid value %q: want a whole number from %d to %d",
			v, lo, hi)
		return def
	}

	return n
}

// Duration returns the variable parsed by time.ParseDuration ("500ms",
// "10s"), or def when unset. The value must be positive.
func (r *Reader) Duration(name string, def time.Duration) time.Duration {
	v, ok := r.value(name)
	if !ok {
		return def
	}

	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		r.Fail(name, "invalid duration %q: want a positive Go duration "+
			"such as 500ms or 10s", v)
		return def
	}

	return d
}

// List returns the comma-separated variable with empty items dropped, or
// def when unset.
func (r *Reader) List(name string, def []string) []string {
	v, ok := r.value(name)
	if !ok {
		return def
	}

	var items []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}

	if len(items) == 0 {
		r.Fail(name, "empty list %q", v)
		return def
	}

	return items
}

// Addr returns the variable as a host:port listen address, or def when
// unset.
func (r *Reader) Addr(name, def string) string {
	v := r.String(name, def)
	if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
		r.Fail(name, "invalid address %q: want host:port, such as "+
			"127.0.0.1:4000 or :4000", v)
	}

	return v
}

// Brokers returns the comma-separated host:port list of Kafka brokers.
func (r *Reader) Brokers(name string, def []string) []string {
	brokers := r.List(name, def)
	for _, b := range brokers {
		if _, port, err := net.SplitHostPort(b); err != nil || port == "" {
			r.Fail(name, "invalid broker address %q: want host:port", b)
		}
	}

	return brokers
}

// PostgresURL returns the variable as a postgres:// or postgresql:// URL,
// or def when unset. Error messages never include the password.
func (r *Reader) PostgresURL(name, def string) string {
	v := r.String(name, def)
	u, err := url.Parse(v)
	if err != nil {
		r.Fail(name, "invalid URL: want postgres://user:password@host:port/db")
		return v
	}

	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		r.Fail(name, "invalid URL scheme %q: want postgres://", u.Scheme)
	}

	if strings.Trim(u.Path, "/") == "" {
		r.Fail(name, "missing database name in the URL path")
	}

	return v
}

// Err returns every error recorded so far joined into one, or nil.
func (r *Reader) Err() error {
	if len(r.errs) == 0 {
		return nil
	}

	return fmt.Errorf("invalid configuration: %w", errors.Join(r.errs...))
}
