// Package testenv connects integration tests to the PostgreSQL server and
// Kafka broker started by the project's test tooling. It reads
// TEST_DATABASE_URL (an admin URL) and TEST_KAFKA_BROKERS. When one is
// unset a test is skipped, unless CI is set, in which case it fails.
package testenv

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

func require(t testing.TB, name string) string {
	t.Helper()

	v := strings.TrimSpace(os.Getenv(name))
	if v != "" {
		return v
	}

	msg := name + " is not set; run the tests with `make test`, " +
		"which starts PostgreSQL and Kafka"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)

	return ""
}

// Brokers returns the test Kafka brokers.
func Brokers(t testing.TB) []string {
	t.Helper()

	return strings.Split(require(t, "TEST_KAFKA_BROKERS"), ",")
}

// TopicPrefix returns a prefix unique to this test, so tests that share
// the broker never read each other's events.
func TopicPrefix(t testing.TB) string {
	t.Helper()

	return "t" + strings.ReplaceAll(uuid.NewString()[:8], "-", "") + "."
}

// Database creates an empty database for this test and returns its URL.
// The database is dropped when the test ends.
func Database(t testing.TB) string {
	t.Helper()

	admin := require(t, "TEST_DATABASE_URL")
	name := "test_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:16]

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect to TEST_DATABASE_URL: %v", err)
	}
	defer conn.Close(ctx)

	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}

	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()

		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Logf("drop database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)

		_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		if err != nil {
			t.Logf("drop database %s: %v", name, err)
		}
	})

	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("parse TEST_DATABASE_URL: %v", err)
	}
	u.Path = "/" + name

	return u.String()
}

// Context returns a context cancelled when the test ends or after d.
func Context(t testing.TB, d time.Duration) context.Context {
	t.Helper()

	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)

	return ctx
}

// Eventually calls check every 50 ms until it returns nil or d passes, and
// then fails the test with check's last error.
func Eventually(t testing.TB, d time.Duration, check func() error) {
	t.Helper()

	deadline := time.Now().Add(d)
	for {
		err := check()
		if err == nil {
			return
		}

		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %s: %v", d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Errorf is fmt.Errorf, for checks passed to Eventually.
var Errorf = fmt.Errorf
