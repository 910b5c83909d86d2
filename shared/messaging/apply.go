package messaging

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
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
	// HeaderDLQTruncated marks a dead-lettered record whose key, value or
	// headers were cut to fit. It contains the original value's length and
	// SHA-256, so the original can be found in the source topic.
	HeaderDLQTruncated = "dlq-truncated"
)

// Bounds on what a dead-lettered record copies from the original. Kafka
// rejects records over max.message.bytes (1 MiB by default) and the
// dead-letter copy adds headers, so a record near the limit would never
// fit and would stall its partition.
const (
	dlqMaxValue   = 256 << 10
	dlqMaxKey     = 1 << 10
	dlqMaxHeaders = 16 << 10
	dlqMaxReason  = 1 << 10
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
	dead := deadLetterRecord(m, reason, c.cfg.GroupID, dlqMaxValue)

	for attempt := 1; ; attempt++ {
		err := c.cfg.DeadLetter.WriteMessages(ctx, dead)
		if err == nil {
			break
		}

		if ctx.Err() != nil {
			return false
		}

		// A broker with a smaller max.message.bytes still rejects the
		// copy: keep the headers, which name where the original is, and
		// drop the value rather than stall the partition.
		if tooLarge(err) && len(dead.Value) > 0 {
			slog.WarnContext(ctx, "dead-letter record too large; sending "+
				"it without its value", "topic", dead.Topic,
				"value_bytes", len(dead.Value), "error", err)
			dead = deadLetterRecord(m, reason, c.cfg.GroupID, 0)
			continue
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

// tooLarge reports whether err, or any error of a kafka.WriteErrors, reports
// that a record exceeds the size limit of the writer or the broker.
func tooLarge(err error) bool {
	var each kafka.WriteErrors
	if errors.As(err, &each) {
		for _, e := range each {
			if e != nil && errors.Is(e, kafka.MessageSizeTooLarge) {
				return true
			}
		}
	}

	return errors.Is(err, kafka.MessageSizeTooLarge)
}

// deadLetterRecord returns the dead-letter copy of m: its key, value and
// headers, cut to the dlqMax bounds (the value to maxValue bytes), plus
// headers that give the reason and the source. A cut copy carries
// HeaderDLQTruncated.
func deadLetterRecord(m kafka.Message, reason error, group string, maxValue int) kafka.Message {
	var cut []string
	key := m.Key
	if len(key) > dlqMaxKey {
		key = key[:dlqMaxKey]
		cut = append(cut, fmt.Sprintf("key from %d bytes", len(m.Key)))
	}

	value := m.Value
	if len(value) > maxValue {
		value = value[:maxValue]
		sum := sha256.Sum256(m.Value)
		cut = append(cut, fmt.Sprintf("value from %d bytes, sha256 %x",
			len(m.Value), sum))
	}

	headers := make([]kafka.Header, 0, len(m.Headers)+7)
	size := 0
	for _, h := range m.Headers {
		size += len(h.Key) + len(h.Value)
	}
	if size > dlqMaxHeaders {
		cut = append(cut, fmt.Sprintf("%d headers of %d bytes dropped",
			len(m.Headers), size))
	} else {
		headers = append(headers, m.Headers...)
	}

	msg := reason.Error()
	if len(msg) > dlqMaxReason {
		msg = strings.ToValidUTF8(msg[:dlqMaxReason], "") + "…"
	}

	headers = append(headers,
		kafka.Header{Key: HeaderDLQError, Value: []byte(msg)},
		kafka.Header{Key: HeaderDLQTopic, Value: []byte(m.Topic)},
		kafka.Header{Key: HeaderDLQPartition, Value: []byte(strconv.Itoa(m.Partition))},
		kafka.Header{Key: HeaderDLQOffset, Value: []byte(strconv.FormatInt(m.Offset, 10))},
		kafka.Header{Key: HeaderDLQGroup, Value: []byte(group)},
	)
	if len(cut) > 0 {
		headers = append(headers, kafka.Header{
			Key: HeaderDLQTruncated, Value: []byte(strings.Join(cut, "; ")),
		})
	}

	return kafka.Message{
		Topic:   event.DeadLetter(m.Topic),
		Key:     key,
		Value:   value,
		Headers: headers,
	}
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
