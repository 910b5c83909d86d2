// Package postgres opens connection pools, applies embedded schema
// migrations and runs transactions.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// Open connects to the database at url and pings it until it responds or
// ctx is done, so a service can start before its database.
func Open(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The pgx error can contain the password, so it is not wrapped.
		return nil, errors.New("parse DATABASE_URL: invalid connection string")
	}

	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("create pool: %w", err)
	}

	for attempt := 1; ; attempt++ {
		err = pool.Ping(ctx)
		if err == nil {
			return pool, nil
		}

		if attempt == 1 || attempt%10 == 0 {
			slog.WarnContext(ctx, "database not reachable yet",
				"host", cfg.ConnConfig.Host, "database", cfg.ConnConfig.Database,
				"attempt", attempt, "error", err)
		}

		select {
		case <-ctx.Done():
			pool.Close()
			return nil, fmt.Errorf("connect to database %s: %w",
				cfg.ConnConfig.Database, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// Migrate applies the SQL migrations in the root of fsys that the database
// does not have yet, in version order, each in its own transaction. table
// records the applied versions, so independent sets of migrations can share
// one database. A session advisory lock keeps replicas that start together
// from applying the same migration twice.
func Migrate(
	ctx context.Context,
	pool *pgxpool.Pool,
	fsys fs.FS,
	table string,
) error {
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()

	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return fmt.Errorf("create migration lock: %w", err)
	}

	provider, err := goose.NewProvider(goose.DialectPostgres, db, fsys,
		goose.WithTableName(table), goose.WithSessionLocker(locker))
	if err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}

	results, err := provider.Up(ctx)
	if err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}

	for _, res := range results {
		slog.InfoContext(ctx, "applied migration", "table", table,
			"version", res.Source.Version, "path", res.Source.Path,
			"duration_ms", res.Duration.Milliseconds())
	}

	return nil
}

// InTx runs fn inside a transaction and commits it when fn returns nil.
// Any error rolls the transaction back.
func InTx(ctx context.Context, pool *pgxpool.Pool, fn func(pgx.Tx) error) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))

	if err := fn(tx); err != nil {
		return err
	}

	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit transaction: %w", err)
	}

	return nil
}

// IsUniqueViolation reports whether err is a PostgreSQL unique violation.
func IsUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}
