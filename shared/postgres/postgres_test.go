package postgres_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kafkablog/blog/shared/postgres"
	"github.com/kafkablog/blog/shared/testenv"
)

func openTestDB(t testing.TB) *pgxpool.Pool {
	t.Helper()

	url := testenv.Database(t)
	pool, err := postgres.Open(testenv.Context(t, 30*time.Second), url)
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(pool.Close)

	return pool
}

var notesMigrations = fstest.MapFS{
	"00001_notes.sql": {Data: []byte(`-- +goose Up
CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL);

-- +goose Down
DROP TABLE notes;
`)},
	"00002_notes_author.sql": {Data: []byte(`-- +goose Up
ALTER TABLE notes ADD COLUMN author text;

-- +goose Down
ALTER TABLE notes DROP COLUMN author;
`)},
}

func count(t testing.TB, pool *pgxpool.Pool, query string) int {
	t.Helper()

	var n int
	ctx := testenv.Context(t, 30*time.Second)
	if err := pool.QueryRow(ctx, query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}

	return n
}

func TestMigrate_appliesOnce(t *testing.T) {
	t.Parallel()

	pool := openTestDB(t)
	ctx := testenv.Context(t, time.Minute)

	for i := range 2 {
		if err := postgres.Migrate(ctx, pool, notesMigrations, "notes_version"); err != nil {
			t.Fatalf("Migrate run %d returned %v, want nil", i+1, err)
		}
	}

	_, err := pool.Exec(ctx,
		"INSERT INTO notes (id, body, author) VALUES (1, 'x', 'y')")
	if err != nil {
		t.Errorf("insert into the migrated table: %v", err)
	}
	applied := count(t, pool,
		"SELECT count(*) FROM notes_version WHERE version_id > 0")
	if applied != 2 {
		t.Errorf("notes_version records %d migrations, want 2", applied)
	}
}

func TestMigrate_concurrentReplicas(t *testing.T) {
	t.Parallel()

	pool := openTestDB(t)
	ctx := testenv.Context(t, time.Minute)

	const replicas = 3
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = postgres.Migrate(ctx, pool, notesMigrations, "notes_version")
		}()
	}
	wg.Wait()

	for i, err := range errs {
		if err != nil {
			t.Errorf("Migrate of replica %d returned %v, want nil", i, err)
		}
	}
	applied := count(t, pool,
		"SELECT count(*) FROM notes_version WHERE version_id > 0")
	if applied != 2 {
		t.Errorf("notes_version records %d migrations, want 2", applied)
	}
}

func TestInTx(t *testing.T) {
	t.Parallel()

	pool := openTestDB(t)
	ctx := testenv.Context(t, time.Minute)
	if _, err := pool.Exec(ctx, "CREATE TABLE items (id int PRIMARY KEY)"); err != nil {
		t.Fatalf("create table: %v", err)
	}

	errApply := errors.New("apply failed")
	tests := []struct {
		name     string
		id       int
		fnErr    error
		wantRows int
	}{
		{"nil commits", 1, nil, 1},
		{"error rolls back", 2, errApply, 0},
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, "INSERT INTO items VALUES ($1)", tc.id); err != nil {
					return err
				}
				return tc.fnErr
			})
			if !errors.Is(err, tc.fnErr) {
				t.Errorf("InTx returned %v, want %v", err, tc.fnErr)
			}

			var n int
			err = pool.QueryRow(ctx, "SELECT count(*) FROM items WHERE id = $1",
				tc.id).Scan(&n)
			if err != nil {
				t.Fatalf("count items: %v", err)
			}
			if n != tc.wantRows {
				t.Errorf("rows with id %d = %d, want %d", tc.id, n, tc.wantRows)
			}
		})
	}
}

func TestIsUniqueViolation(t *testing.T) {
	t.Parallel()

	pool := openTestDB(t)
	ctx := testenv.Context(t, time.Minute)
	if _, err := pool.Exec(ctx, "CREATE TABLE items (id int PRIMARY KEY)"); err != nil {
		t.Fatalf("create table: %v", err)
	}
	if _, err := pool.Exec(ctx, "INSERT INTO items VALUES (1)"); err != nil {
		t.Fatalf("insert first row: %v", err)
	}

	_, err := pool.Exec(ctx, "INSERT INTO items VALUES (1)")
	if !postgres.IsUniqueViolation(err) {
		t.Errorf("IsUniqueViolation(%v) = false, want true", err)
	}

	_, err = pool.Exec(ctx, "INSERT INTO items VALUES (NULL)")
	if postgres.IsUniqueViolation(err) {
		t.Errorf("IsUniqueViolation(%v) = true for a NOT NULL violation, "+
			"want false", err)
	}
	if postgres.IsUniqueViolation(nil) {
		t.Errorf("IsUniqueViolation(nil) = true, want false")
	}
}

func TestOpen_invalidURLHidesPassword(t *testing.T) {
	t.Parallel()

	ctx := testenv.Context(t, 10*time.Second)
	_, err := postgres.Open(ctx,
		"postgres://blog:s3cret@127.0.0.1:5432/blog?sslmode=sometimes")
	if err == nil {
		t.Fatal("Open with an invalid sslmode returned nil, want an error")
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %q contains the password", err)
	}
}

func TestOpen_givesUpWhenContextEnds(t *testing.T) {
	t.Parallel()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen on a free port: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	_, err = postgres.Open(ctx, "postgres://blog:s3cret@"+addr+"/blog?sslmode=disable")
	if err == nil {
		t.Fatal("Open with no server returned nil, want an error")
	}
	if !strings.Contains(err.Error(), "connect to database blog") {
		t.Errorf("error %q does not name the database", err)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %q contains the password", err)
	}
}
