package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"

	"github.com/kafkablog/blog/query-svc/internal/readmodel"
	"github.com/kafkablog/blog/shared/event"
	"github.com/kafkablog/blog/shared/messaging"
)

// produce writes about opts.events events: each post is followed by its
// comments' CommentCreated and CommentUpdated events, all keyed by the
// post id as the services do.
func produce(ctx context.Context, opts options, topics event.Topics) (int, error) {
	w := messaging.NewWriter(opts.brokers)
	w.BatchSize = 5000
	w.BatchBytes = 900 << 10
	defer w.Close()

	perPost := 1 + 2*commentsPerPost
	posts := opts.events / perPost
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	var msgs []kafka.Message
	total := 0
	for i := range posts {
		created := base.Add(time.Duration(i) * time.Second)
		batch, err := postEvents(topics, i, created)
		if err != nil {
			return total, err
		}
		msgs = append(msgs, batch...)

		if len(msgs) >= 50_000 || i == posts-1 {
			if err := w.WriteMessages(ctx, msgs...); err != nil {
				return total, fmt.Errorf("write events: %.300v", err)
			}
			total += len(msgs)
			msgs = msgs[:0]
		}
	}

	return total, nil
}

func postEvents(topics event.Topics, i int, created time.Time) ([]kafka.Message, error) {
	postID := uuid.New()
	var out []kafka.Message
	add := func(topic, typ string, data any) error {
		env, err := event.New(typ, "rebuild-bench", data)
		if err != nil {
			return err
		}
		value, err := env.Marshal()
		if err != nil {
			return err
		}
		out = append(out, kafka.Message{
			Topic: topic,
			Key:   []byte(postID.String()),
			Value: value,
			Headers: []kafka.Header{
				{Key: event.HeaderType, Value: []byte(typ)},
				{Key: event.HeaderID, Value: []byte(env.ID.String())},
				{Key: event.HeaderContentType, Value: []byte(event.ContentTypeJSON)},
			},
		})
		return nil
	}

	err := add(topics.Posts, event.TypePostCreated, event.PostCreated{
		ID: postID, Title: fmt.Sprintf("Post number %d about Kafka", i),
		CreatedAt: created,
	})
	for c := 0; c < commentsPerPost && err == nil; c++ {
		id := uuid.New()
		content := fmt.Sprintf("Comment %d on post %d, with some words to read", c, i)
		err = add(topics.Comments, event.TypeCommentCreated, event.CommentCreated{
			ID: id, PostID: postID, Content: content, Status: event.StatusPending,
			Version: 1, CreatedAt: created.Add(time.Duration(c+1) * time.Millisecond),
		})
		if err != nil {
			break
		}
		status := event.StatusApproved
		if c%4 == 3 {
			status = event.StatusRejected
		}
		err = add(topics.Comments, event.TypeCommentUpdated, event.CommentUpdated{
			ID: id, PostID: postID, Content: content, Status: status, Version: 2,
		})
	}

	return out, err
}

// consume runs the query service's consumer from the group's committed
// offsets until the group has no lag, and returns the time it took.
func consume(
	ctx context.Context,
	opts options,
	pool *pgxpool.Pool,
	client *kafka.Client,
	group string,
	topics []string,
) (time.Duration, error) {
	w := messaging.NewWriter(opts.brokers)
	defer w.Close()

	consumer, err := messaging.NewConsumer(messaging.ConsumerConfig{
		Brokers: opts.brokers,
		GroupID: group,
		Topics:  topics,
		Types: []string{event.TypePostCreated, event.TypeCommentCreated,
			event.TypeCommentUpdated},
		Apply:      readmodel.Apply,
		Pool:       pool,
		DeadLetter: w,
		MaxBatch:   opts.batch,
	})
	if err != nil {
		return 0, err
	}

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- consumer.Run(runCtx) }()

	err = messaging.WaitCaughtUp(ctx, client, group, topics, 100*time.Millisecond)
	elapsed := time.Since(start)
	stop()
	if runErr := <-done; runErr != nil {
		return 0, runErr
	}

	return elapsed, err
}

// createDatabase creates a fresh database on the server of adminURL and
// returns its URL and a function that drops it.
func createDatabase(ctx context.Context, adminURL string) (string, func(), error) {
	name := "bench_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", nil, fmt.Errorf("connect to -database: %w", err)
	}
	defer conn.Close(ctx)

	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}

	u, err := url.Parse(adminURL)
	if err != nil {
		return "", nil, fmt.Errorf("parse -database: %w", err)
	}
	u.Path = "/" + name

	drop := func() {
		conn, err := pgx.Connect(context.Background(), adminURL)
		if err != nil {
			return
		}
		defer conn.Close(context.Background())
		conn.Exec(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)")
	}

	return u.String(), drop, nil
}
