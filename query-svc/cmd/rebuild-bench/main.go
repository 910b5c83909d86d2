// Command rebuild-bench measures how fast query-svc replays the event log.
// It writes posts, comments and moderation updates to a real Kafka broker
// and builds the read model once. Then it runs the rebuild, which empties
// the read model and rewinds the group, and times the replay until the
// group has no lag. It prints events per second for both passes.
//
//	go run ./query-svc/cmd/rebuild-bench -brokers 127.0.0.1:19092 \
//	    -database postgres://postgres@127.0.0.1:15432/postgres -events 1000000
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"

	"github.com/kafkablog/blog/query-svc/internal/rebuild"
	"github.com/kafkablog/blog/query-svc/migrations"
	"github.com/kafkablog/blog/shared/event"
	"github.com/kafkablog/blog/shared/messaging"
	"github.com/kafkablog/blog/shared/postgres"
)

// commentsPerPost sets the ratio: each comment has a CommentCreated and a
// CommentUpdated, so a post brings 1 + 2*commentsPerPost events.
const commentsPerPost = 4

type options struct {
	brokers    []string
	adminURL   string
	events     int
	partitions int
	batch      int
	profile    string
}

func main() {
	var opts options
	var brokers string
	flag.StringVar(&brokers, "brokers", "127.0.0.1:19092", "Kafka bootstrap brokers, comma-separated")
	flag.StringVar(&opts.adminURL, "database", "", "PostgreSQL admin URL; a fresh database is created next to it")
	flag.IntVar(&opts.events, "events", 1_000_000, "number of events in the log")
	flag.IntVar(&opts.partitions, "partitions", 3, "partitions per topic")
	flag.IntVar(&opts.batch, "batch", 5000, "events applied per transaction")
	profile := flag.String("cpuprofile", "", "write a CPU profile of the rebuild pass to this file")
	flag.Parse()
	opts.profile = *profile
	opts.brokers = strings.Split(brokers, ",")

	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr,
		&slog.HandlerOptions{Level: slog.LevelWarn})))

	if opts.adminURL == "" {
		fmt.Fprintln(os.Stderr, "rebuild-bench: -database is required")
		os.Exit(2)
	}

	if err := run(context.Background(), opts); err != nil {
		fmt.Fprintln(os.Stderr, "rebuild-bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, opts options) error {
	prefix := "bench" + uuid.NewString()[:8] + "."
	topics := event.NewTopics(prefix)
	names := []string{topics.Posts, topics.Comments}
	spec := messaging.TopicSpec{Partitions: opts.partitions, ReplicationFactor: 1}
	if err := messaging.EnsureTopics(ctx, opts.brokers, spec,
		append(names, event.DeadLetter(topics.Posts), event.DeadLetter(topics.Comments))...); err != nil {
		return err
	}

	start := time.Now()
	n, err := produce(ctx, opts, topics)
	if err != nil {
		return err
	}
	fmt.Printf("log: %d events on %d partitions per topic, written in %s\n",
		n, opts.partitions, time.Since(start).Round(time.Millisecond))

	dbURL, drop, err := createDatabase(ctx, opts.adminURL)
	if err != nil {
		return err
	}
	defer drop()

	pool, err := postgres.Open(ctx, dbURL)
	if err != nil {
		return err
	}
	defer pool.Close()

	if err := postgres.Migrate(ctx, pool, migrations.FS, "schema_version"); err != nil {
		return err
	}

	group := prefix + "query-svc"
	client := &kafka.Client{Addr: kafka.TCP(opts.brokers...), Timeout: 10 * time.Second}
	replay := func(label string) error {
		d, err := consume(ctx, opts, pool, client, group, names)
		if err != nil {
			return err
		}
		fmt.Printf("%s: %d events in %s = %.0f events/s\n", label, n,
			d.Round(time.Millisecond), float64(n)/d.Seconds())
		return nil
	}

	if err := replay("first build"); err != nil {
		return err
	}

	if err := rebuild.Run(ctx, pool, client, group, names, os.Stdout); err != nil {
		return err
	}

	if opts.profile != "" {
		f, err := os.Create(opts.profile)
		if err != nil {
			return fmt.Errorf("create profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("start profile: %w", err)
		}
	}

	err = replay("rebuild")
	pprof.StopCPUProfile()
	if err != nil {
		return err
	}

	var posts, comments int
	err = pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM posts),
		(SELECT count(*) FROM comments WHERE version = 2)`).Scan(&posts, &comments)
	if err != nil {
		return fmt.Errorf("count rows: %w", err)
	}
	fmt.Printf("read model: %d posts, %d moderated comments\n", posts, comments)

	return nil
}
