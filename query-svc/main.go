// Command query-svc builds a read model of posts with their comments from
// the Kafka log and serves it over HTTP.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kafkablog/blog/query-svc/internal/httpport"
	"github.com/kafkablog/blog/query-svc/internal/readmodel"
	"github.com/kafkablog/blog/query-svc/migrations"
	"github.com/kafkablog/blog/shared/config"
	"github.com/kafkablog/blog/shared/event"
	"github.com/kafkablog/blog/shared/httpapi"
	"github.com/kafkablog/blog/shared/messaging"
	"github.com/kafkablog/blog/shared/service"
)

// name is the service name in logs and its consumer group.
const name = "query-svc"

func main() {
	if err := run(); err != nil {
		slog.Error("query-svc stopped with an error", "error", err)
		os.Exit(1)
	}
}

func run() error {
	env := config.New()
	cfg := config.ReadCommon(env, "4002", "query")
	batch := env.Int("CONSUMER_MAX_BATCH", 1000, 1, 100000)
	if err := env.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "query-svc:", err)
		os.Exit(2)
	}

	service.NewLogger(name, cfg.LogLevel)
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

	consumer, err := messaging.NewConsumer(messaging.ConsumerConfig{
		Brokers: cfg.Brokers,
		GroupID: cfg.Group(name),
		Topics:  []string{deps.Topics.Posts, deps.Topics.Comments},
		Types: []string{
			event.TypePostCreated,
			event.TypeCommentCreated,
			event.TypeCommentUpdated,
		},
		Apply:      readmodel.Apply,
		Pool:       deps.Pool,
		DeadLetter: deps.Writer,
		MaxBatch:   batch,
	})
	if err != nil {
		return err
	}

	router := httpapi.NewRouter(deps.Checks()...)
	httpport.Register(router, readmodel.NewReader(deps.Pool))

	return service.Run(ctx, cfg.HTTPAddr, router, cfg.ShutdownTimeout,
		[]service.Worker{{Name: "posts and comments consumer", Run: consumer.Run}},
		nil)
}
