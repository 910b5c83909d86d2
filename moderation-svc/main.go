// Command moderation-svc judges every new comment against a list of banned
// words and publishes a CommentModerated event with the verdict.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kafkablog/blog/moderation-svc/internal/moderation"
	"github.com/kafkablog/blog/moderation-svc/migrations"
	"github.com/kafkablog/blog/shared/config"
	"github.com/kafkablog/blog/shared/event"
	"github.com/kafkablog/blog/shared/httpapi"
	"github.com/kafkablog/blog/shared/messaging"
	"github.com/kafkablog/blog/shared/service"
)

func main() {
	if err := run(); err != nil {
		slog.Error("moderation-svc stopped with an error", "error", err)
		os.Exit(1)
	}
}

func run() error {
	env := config.New()
	cfg := config.ReadCommon(env, "4003", "moderation")
	words := env.List("BANNED_WORDS", []string{"orange"})
	policy, err := moderation.NewPolicy(words)
	if err != nil {
		env.Fail("BANNED_WORDS", "%v", err)
	}
	if err := env.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "moderation-svc:", err)
		os.Exit(2)
	}

	service.NewLogger(moderation.Producer, cfg.LogLevel)
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

	moderator := moderation.NewModerator(policy, deps.Topics.Moderation)
	consumer, err := messaging.NewConsumer(messaging.ConsumerConfig{
		Brokers:    cfg.Brokers,
		GroupID:    cfg.Group(moderation.Producer),
		Topics:     []string{deps.Topics.Comments},
		Types:      []string{event.TypeCommentCreated},
		Apply:      messaging.Each(moderator.Apply),
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

	router := httpapi.NewRouter(deps.Checks()...)

	return service.Run(ctx, cfg.HTTPAddr, router, cfg.ShutdownTimeout,
		[]service.Worker{
			{Name: "comments consumer", Run: consumer.Run},
			deps.LagGauge(cfg.Group(moderation.Producer), consumer.ClientID(),
				[]string{deps.Topics.Comments}),
		},
		[]service.Worker{relay})
}
