// Command comments-svc stores comments on known posts, applies moderation
// verdicts, and announces every change on Kafka through a transactional
// outbox.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kafkablog/blog/comments-svc/internal/comments"
	"github.com/kafkablog/blog/comments-svc/internal/httpport"
	"github.com/kafkablog/blog/comments-svc/migrations"
	"github.com/kafkablog/blog/shared/config"
	"github.com/kafkablog/blog/shared/event"
	"github.com/kafkablog/blog/shared/httpapi"
	"github.com/kafkablog/blog/shared/messaging"
	"github.com/kafkablog/blog/shared/service"
)

func main() {
	if err := run(); err != nil {
		slog.Error("comments-svc stopped with an error", "error", err)
		os.Exit(1)
	}
}

func run() error {
	env := config.New()
	cfg := config.ReadCommon(env, "4001", "comments")
	postWait := env.Duration("POST_WAIT_TIMEOUT", 3*time.Second)
	if err := env.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "comments-svc:", err)
		os.Exit(2)
	}

	service.NewLogger(comments.Producer, cfg.LogLevel)
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

	store, err := comments.NewStore(deps.Pool, deps.Topics.Comments)
	if err != nil {
		return err
	}

	group := cfg.Group(comments.Producer)
	consumer, err := messaging.NewConsumer(messaging.ConsumerConfig{
		Brokers: cfg.Brokers,
		GroupID: group,
		Topics:  []string{deps.Topics.Posts, deps.Topics.Moderation},
		Types: []string{
			event.TypePostCreated,
			event.TypeCommentModerated,
		},
		Apply:      messaging.Each(store.Apply),
		Pool:       deps.Pool,
		DeadLetter: deps.Writer,
	})
	if err != nil {
		return err
	}

	relay, err := deps.Relay()
	if err != nil {
		return err
	}

	client := deps.KafkaClient()
	catchUp := func(ctx context.Context) error {
		return messaging.WaitCaughtUp(ctx, client, group,
			[]string{deps.Topics.Posts}, 50*time.Millisecond)
	}

	router := httpapi.NewRouter(deps.Checks()...)
	httpport.Register(router, store, catchUp, postWait)

	return service.Run(ctx, cfg.HTTPAddr, router, cfg.ShutdownTimeout,
		[]service.Worker{
			{Name: "posts and moderation consumer", Run: consumer.Run},
			deps.LagGauge(group, consumer.ClientID(),
				[]string{deps.Topics.Posts, deps.Topics.Moderation}),
		},
		[]service.Worker{relay})
}
