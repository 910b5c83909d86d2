// Command posts-svc stores blog posts in PostgreSQL and announces each new
// post as a PostCreated event on Kafka through a transactional outbox.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kafkablog/blog/posts-svc/internal/httpport"
	"github.com/kafkablog/blog/posts-svc/internal/posts"
	"github.com/kafkablog/blog/posts-svc/migrations"
	"github.com/kafkablog/blog/shared/config"
	"github.com/kafkablog/blog/shared/httpapi"
	"github.com/kafkablog/blog/shared/service"
)

func main() {
	if err := run(); err != nil {
		slog.Error("posts-svc stopped with an error", "error", err)
		os.Exit(1)
	}
}

func run() error {
	env := config.New()
	cfg := config.ReadCommon(env, "4000", "posts")
	if err := env.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "posts-svc:", err)
		os.Exit(2)
	}

	service.NewLogger(posts.Producer, cfg.LogLevel)
	ctx, stop := signal.NotifyContext(context.Background(),
		syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()

	deps, err := service.Open(startCtx, cfg, migrations.FS)
	if err != nil {
		return err
	}
	defer deps.Close()

	store, err := posts.NewStore(deps.Pool, deps.Topics.Posts)
	if err != nil {
		return err
	}

	relay, err := deps.Relay()
	if err != nil {
		return err
	}

	router := httpapi.NewRouter(deps.Checks()...)
	httpport.Register(router, store)

	return service.Run(ctx, cfg.HTTPAddr, router, cfg.ShutdownTimeout,
		nil, []service.Worker{relay})
}
