// Command query-svc builds a read model of posts with their comments from
// the Kafka log and serves it over HTTP.
//
// Usage:
//
//	query-svc          serve the read model and keep it up to date
//	query-svc rebuild  empty the read model and rewind the consumer group
//	                   to the start of the log; run it while no query-svc
//	                   is running, then start query-svc to replay the log
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafkablog/blog/query-svc/internal/httpport"
	"github.com/kafkablog/blog/query-svc/internal/live"
	"github.com/kafkablog/blog/query-svc/internal/readmodel"
	"github.com/kafkablog/blog/query-svc/internal/rebuild"
	"github.com/kafkablog/blog/query-svc/migrations"
	"github.com/kafkablog/blog/shared/config"
	"github.com/kafkablog/blog/shared/event"
	"github.com/kafkablog/blog/shared/httpapi"
	"github.com/kafkablog/blog/shared/messaging"
	"github.com/kafkablog/blog/shared/service"
)

// name is the service name in logs and its consumer group.
const name = "query-svc"

// Exit codes of the rebuild subcommand.
const (
	exitFailed       = 1
	exitUsage        = 2
	exitGroupRunning = 3
)

// settings is the query service's configuration.
type settings struct {
	config.Common
	MaxBatch int
	MaxLag   int64
}

func main() {
	args := os.Args[1:]
	if len(args) > 1 || (len(args) == 1 && args[0] != "rebuild") {
		fmt.Fprintln(os.Stderr, "usage: query-svc [rebuild]")
		os.Exit(exitUsage)
	}

	cfg := readSettings()
	service.NewLogger(name, cfg.LogLevel)
	ctx, stop := signal.NotifyContext(context.Background(),
		syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	if len(args) == 1 {
		err := runRebuild(ctx, cfg)
		stop()
		if errors.Is(err, rebuild.ErrGroupActive) {
			fmt.Fprintln(os.Stderr, "query-svc rebuild:", err)
			os.Exit(exitGroupRunning)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "query-svc rebuild failed:", err)
			os.Exit(exitFailed)
		}
		return
	}

	if err := serve(ctx, cfg); err != nil {
		slog.Error("query-svc stopped with an error", "error", err)
		stop()
		os.Exit(exitFailed)
	}
}

func readSettings() settings {
	env := config.New()
	cfg := settings{
		Common:   config.ReadCommon(env, "4002", "query"),
		MaxBatch: env.Int("CONSUMER_MAX_BATCH", 2000, 1, 100000),
		MaxLag:   int64(env.Int("READY_MAX_LAG", 100, 0, 1<<30)),
	}
	if err := env.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "query-svc:", err)
		os.Exit(exitUsage)
	}

	return cfg
}

func topics(t event.Topics) []string {
	return []string{t.Posts, t.Comments}
}

func serve(ctx context.Context, cfg settings) error {
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()

	deps, err := service.Open(startCtx, cfg.Common, migrations.FS)
	if err != nil {
		return err
	}
	defer deps.Close()

	group := cfg.Group(name)
	consumer, err := messaging.NewConsumer(messaging.ConsumerConfig{
		Brokers: cfg.Brokers,
		GroupID: group,
		Topics:  topics(deps.Topics),
		Types: []string{
			event.TypePostCreated,
			event.TypeCommentCreated,
			event.TypeCommentUpdated,
		},
		Apply:      readmodel.Apply,
		Pool:       deps.Pool,
		DeadLetter: deps.Writer,
		MaxBatch:   cfg.MaxBatch,
	})
	if err != nil {
		return err
	}

	monitor := messaging.NewLagMonitor(deps.KafkaClient(), group, consumer.ClientID(),
		topics(deps.Topics), cfg.MaxLag, time.Second)

	checks := append(deps.Checks(), httpapi.Check{
		Name: "consumer", Check: monitor.Check,
	})
	router := httpapi.NewRouter(checks...)
	hub := live.NewHub()
	httpport.Register(router, readmodel.NewReader(deps.Pool),
		live.StreamHandler(hub))

	// Open event streams would hold the HTTP shutdown until its timeout,
	// so they end as soon as the shutdown begins.
	go func() {
		<-ctx.Done()
		hub.Close()
	}()

	return service.Run(ctx, cfg.HTTPAddr, router, cfg.ShutdownTimeout,
		[]service.Worker{
			{Name: "posts and comments consumer", Run: consumer.Run},
			{Name: "lag monitor", Run: monitor.Run},
			{Name: "read-model notifications", Run: func(ctx context.Context) error {
				return live.Listen(ctx, deps.Pool, hub)
			}},
		}, nil)
}

func runRebuild(ctx context.Context, cfg settings) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()

	deps, err := service.Open(ctx, cfg.Common, migrations.FS)
	if err != nil {
		return err
	}
	defer deps.Close()

	client := &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 10 * time.Second}
	return rebuild.Run(ctx, deps.Pool, client, cfg.Group(name),
		topics(deps.Topics), os.Stdout)
}
