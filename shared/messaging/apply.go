package messaging

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafkablog/blog/shared/event"
)

// Headers added to a dead-lettered record beside its original headers.
const (
	HeaderDLQError     = "dlq-error"
	HeaderDLQTopic     = "dlq-topic"
	HeaderDLQPartition = "dlq-partition"
	HeaderDLQOffset    = "dlq-offset"
	HeaderDLQGroup     = "dlq-group"
)

type outcome int

const (
	outcomeApply outcome = iota
	outcomeSkip
	outcomeDead
)

// item is one fetched message and what to do with it.
type item struct {
	msg     kafka.Message
	rec     Record
	outcome outcome
	err     error
}

// process handles a prepared batch and returns the prefix of its messages
// that is done: applied, skipped or dead-lettered. Only cancellation of
// ctx leaves a suffix undone. The whole batch is first applied in one
// transaction; if that fails, each event is applied alone with retries.
func (c *Consumer) process(ctx context.Context, b prepared) []kafka.Message {
	batchErr := c.applyAll(context.WithoutCancel(ctx), b.recs)
	if batchErr == nil {
		c.count(b.recs, "applied")
	} else {
		slog.WarnContext(ctx, "batch failed; applying its events one by one",
			"group", c.cfg.GroupID, "events", len(b.recs), "error", batchErr)
	}

	done := make([]kafka.Message, 0, len(b.items))
	for _, it := range b.items {
		err := it.err
		if batchErr != nil && it.outcome == outcomeApply {
			err = c.applyWithRetry(ctx, it.rec)
		}

		if err != nil && (ctx.Err() != nil || !c.deadLetter(ctx, it.msg, err)) {
			return done
		}
		done = append(done, it.msg)
	}

	return done
}

// classify decodes m and decides whether to apply it, skip its unknown
// event type, or dead-letter a value that breaks the contract.
func (c *Consumer) classify(m kafka.Message) item {
	env, err := event.Decode(m.Value)
	if err != nil {
		return item{msg: m, outcome: outcomeDead, err: err}
	}

	if !c.known[env.Type] {
		consumed.WithLabelValues(c.cfg.GroupID, m.Topic, env.Type, "skipped").Inc()
		slog.Debug("skipped unknown event type", "group", c.cfg.GroupID,
			"topic", m.Topic, "partition", m.Partition, "offset", m.Offset,
			"type", env.Type, "event_id", env.ID)
		return item{msg: m, outcome: outcomeSkip}
	}

	rec := Record{
		Topic:     m.Topic,
		Partition: m.Partition,
		Offset:    m.Offset,
		Key:       m.Key,
		Event:     env,
	}

	return item{msg: m, rec: rec, outcome: outcomeApply}
}

func (c *Consumer) applyAll(ctx context.Context, recs []Record) error {
	if len(recs) == 0 {
		return nil
	}

	tx, err := c.cfg.Pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer tx.Rollback(ctx)

	if err := c.cfg.Apply(ctx, tx, recs); err != nil {
		return err
	}

	return tx.Commit(ctx)
}

// applyWithRetry applies rec alone, retrying failures that a retry can fix
// up to Retries times. While the database is unreachable it keeps waiting
// instead, since the event is not at fault. It returns ctx's error when
// cancelled.
func (c *Consumer) applyWithRetry(ctx context.Context, rec Record) error {
	work := context.WithoutCancel(ctx)
	backoff := c.cfg.RetryBackoff

	for attempt := 1; ; attempt++ {
		err := c.applyAll(work, []Record{rec})
		if err == nil {
			c.count([]Record{rec}, "applied")
			return nil
		}

		if isPermanent(err) {
			return err
		}

		if pingErr := c.cfg.Pool.Ping(work); pingErr == nil {
			if attempt >= c.cfg.Retries {
				return err
			}
		} else {
			attempt = 0
			slog.WarnContext(ctx, "database unreachable; waiting to apply",
				"group", c.cfg.GroupID, "topic", rec.Topic,
				"partition", rec.Partition, "offset", rec.Offset,
				"error", pingErr)
		}

		if !sleep(ctx, backoff) {
			return ctx.Err()
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func isPermanent(err error) bool {
	return errors.Is(err, event.ErrMalformed) ||
		errors.Is(err, event.ErrUnsupportedVersion) ||
		errors.Is(err, ErrPermanent)
}

// deadLetter publishes m to its topic's dead-letter topic with the reason
// in a header, retrying until it succeeds or ctx is cancelled. It returns
// false only on cancellation, in which case m must not be committed.
func (c *Consumer) deadLetter(ctx context.Context, m kafka.Message, reason error) bool {
	headers := append([]kafka.Header{}, m.Headers...)
	headers = append(headers,
		kafka.Header{Key: HeaderDLQError, Value: []byte(reason.Error())},
		kafka.Header{Key: HeaderDLQTopic, Value: []byte(m.Topic)},
		kafka.Header{Key: HeaderDLQPartition, Value: []byte(strconv.Itoa(m.Partition))},
		kafka.Header{Key: HeaderDLQOffset, Value: []byte(strconv.FormatInt(m.Offset, 10))},
		kafka.Header{Key: HeaderDLQGroup, Value: []byte(c.cfg.GroupID)},
	)
	dead := kafka.Message{
		Topic:   event.DeadLetter(m.Topic),
		Key:     m.Key,
		Value:   m.Value,
		Headers: headers,
	}

	for attempt := 1; ; attempt++ {
		err := c.cfg.DeadLetter.WriteMessages(ctx, dead)
		if err == nil {
			break
		}

		if ctx.Err() != nil {
			return false
		}

		slog.ErrorContext(ctx, "publish to dead-letter topic; retrying",
			"topic", dead.Topic, "attempt", attempt, "error", err)
		if !sleep(ctx, time.Second) {
			return false
		}
	}

	consumed.WithLabelValues(c.cfg.GroupID, m.Topic, headerValue(m, event.HeaderType),
		"dead_lettered").Inc()
	slog.ErrorContext(ctx, "event sent to dead-letter topic",
		"group", c.cfg.GroupID, "topic", m.Topic, "partition", m.Partition,
		"offset", m.Offset, "event_id", headerValue(m, event.HeaderID),
		"dead_letter_topic", dead.Topic, "error", reason)

	return true
}

func (c *Consumer) count(recs []Record, outcome string) {
	type key struct{ topic, eventType string }
	counts := map[key]int{}
	for _, rec := range recs {
		counts[key{rec.Topic, rec.Event.Type}]++
	}

	for k, n := range counts {
		consumed.WithLabelValues(c.cfg.GroupID, k.topic, k.eventType,
			outcome).Add(float64(n))
	}
}

func headerValue(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}

	return ""
}

// sleep waits for d and returns false if ctx is cancelled first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()

	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
