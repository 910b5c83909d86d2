package main

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestCompareVersions(t *testing.T) {
	t.Parallel()

	tests := []struct {
		a, b string
		want int // sign only
	}{
		{"15", "16", -1},
		{"16", "15", 1},
		{"9.6", "15", -1},
		{"15", "15", 0},
		{"10", "9.6", 1},
	}

	for _, tt := range tests {
		got := compareVersions(tt.a, tt.b)
		if sign(got) != tt.want {
			t.Errorf("compareVersions(%q, %q) = %d, want sign %d",
				tt.a, tt.b, got, tt.want)
		}
	}
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	default:
		return 0
	}
}

func TestWithDatabase_keepsCredentialsAndQuery(t *testing.T) {
	t.Parallel()

	u, err := url.Parse("postgres://u:p%40ss@127.0.0.1:6543/admin?sslmode=disable")
	if err != nil {
		t.Fatalf("parse: %v", err)
	}

	got := withDatabase(u, "posts").String()
	want := "postgres://u:p%40ss@127.0.0.1:6543/posts?sslmode=disable"
	if got != want {
		t.Errorf("withDatabase = %q, want %q", got, want)
	}

	if u.Path != "/admin" {
		t.Errorf("input path changed to %q", u.Path)
	}
}

// TestPGCluster_startCreateStop makes a cluster from the machine's
// binaries in a temporary folder, as the runner does under .dev/postgres.
func TestPGCluster_startCreateStop(t *testing.T) {
	if _, err := findPGBinDir(os.Getenv("DEV_PG_BIN")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL binaries are required in CI: %v", err)
		}

		t.Skipf("no PostgreSQL binaries: %v", err)
	}

	// A folder that user postgres can enter when the test runs as root,
	// unlike t.TempDir, which is private to root.
	base, err := os.MkdirTemp("", "devrun-pg-")
	if err != nil {
		t.Fatalf("create temporary folder: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })

	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatalf("chmod: %v", err)
	}

	port := freePort(t)
	cluster, err := newPGCluster(filepath.Join(base, "postgres"),
		os.Getenv("DEV_PG_BIN"), port, discardLogger())
	if err != nil {
		t.Fatalf("newPGCluster: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	names := []string{"posts", "comments", "query", "moderation"}
	for run := 1; run <= 2; run++ {
		// The second run reuses the data folder and finds the databases.
		if err := cluster.Start(); err != nil {
			t.Fatalf("run %d: Start: %v", run, err)
		}
		t.Cleanup(func() { cluster.Stop() })

		if err := createDatabases(ctx, cluster.URL("postgres"), names); err != nil {
			t.Fatalf("run %d: createDatabases: %v", run, err)
		}

		got := listDatabases(ctx, t, cluster.URL("postgres"))
		for _, name := range names {
			if !slices.Contains(got, name) {
				t.Errorf("run %d: database %s missing from %v", run, name, got)
			}
		}

		if err := cluster.Stop(); err != nil {
			t.Fatalf("run %d: Stop: %v", run, err)
		}

		if err := checkPortFree(port); err != nil {
			t.Errorf("run %d: after Stop: %v", run, err)
		}
	}
}

func listDatabases(ctx context.Context, tb testing.TB, u *url.URL) []string {
	tb.Helper()

	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)

	rows, err := conn.Query(ctx, "SELECT datname FROM pg_database")
	if err != nil {
		tb.Fatalf("list databases: %v", err)
	}

	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		tb.Fatalf("list databases: %v", err)
	}

	return names
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(tb testing.TB) int {
	tb.Helper()

	addr := closedLoopbackAddr(tb)
	_, port, _ := strings.Cut(addr, ":")
	n, err := strconv.Atoi(port)
	if err != nil {
		tb.Fatalf("parse port of %s: %v", addr, err)
	}

	return n
}

// TestPGCluster_privateParentRejected runs as root only: a cluster under a
// folder that user postgres cannot enter fails with a message that names
// the folder and the ways out, before initdb runs.
func TestPGCluster_privateParentRejected(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root runs PostgreSQL as another user")
	}
	if _, err := findPGBinDir(os.Getenv("DEV_PG_BIN")); err != nil {
		t.Skipf("no PostgreSQL binaries: %v", err)
	}

	// t.TempDir is private to root (mode 0700).
	dir := filepath.Join(t.TempDir(), "postgres")
	cluster, err := newPGCluster(dir, os.Getenv("DEV_PG_BIN"), freePort(t),
		discardLogger())
	if err != nil {
		t.Fatalf("newPGCluster: %v", err)
	}

	err = cluster.makeDirs()
	if err == nil {
		t.Fatal("makeDirs under a private folder succeeded, want an error")
	}
	if !strings.Contains(err.Error(), "cannot enter") ||
		!strings.Contains(err.Error(), "DATABASE_URL") {
		t.Errorf("error = %q, want it to name the blocked folder and "+
			"DATABASE_URL", err)
	}
}
