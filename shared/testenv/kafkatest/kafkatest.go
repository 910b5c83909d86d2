// Package kafkatest helps the services' integration tests use the Kafka
// broker that the project's test tooling starts (TEST_KAFKA_BROKERS). It
// sets up topics, runs a consumer for as long as a test, builds records
// shaped like the outbox relay's, and reads a topic back.
package kafkatest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"

	"github.com/kafkablog/blog/shared/event"
	"github.com/kafkablog/blog/shared/messaging"
	"github.com/kafkablog/blog/shared/testenv"
)

// Partitions is the partition count of the topics EnsureTopics creates,
// the services' default.
const Partitions = 3

// EnsureTopics creates the contract topics named by topics and their
// dead-letter topics.
func EnsureTopics(t testing.TB, brokers []string, topics event.Topics) {
	t.Helper()

	names := []string{topics.Posts, topics.Comments, topics.Moderation}
	for _, name := range names[:3] {
		names = append(names, event.DeadLetter(name))
	}

	ctx := testenv.Context(t, time.Minute)
	spec := messaging.TopicSpec{Partitions: Partitions, ReplicationFactor: 1}
	if err := messaging.EnsureTopics(ctx, brokers, spec, names...); err != nil {
		t.Fatalf("ensure topics: %v", err)
	}
}

// RunConsumer runs a consumer built from cfg until the test ends, then
// stops it and fails the test if it does not stop cleanly within 30 s.
func RunConsumer(t testing.TB, cfg messaging.ConsumerConfig) {
	t.Helper()

	consumer, err := messaging.NewConsumer(cfg)
	if err != nil {
		t.Fatalf("new consumer: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- consumer.Run(ctx) }()

	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("consumer stopped with an error: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("consumer did not stop within 30 s of cancellation")
		}
	})
}

// Message builds the record the outbox relay publishes for env: keyed by
// the post id, with the contract's headers.
func Message(topic string, postID uuid.UUID, env event.Envelope) kafka.Message {
	payload, err := env.Marshal()
	if err != nil {
		panic(fmt.Sprintf("encode event %s: %v", env.ID, err))
	}

	return kafka.Message{
		Topic: topic,
		Key:   []byte(postID.String()),
		Value: payload,
		Headers: []kafka.Header{
			{Key: event.HeaderType, Value: []byte(env.Type)},
			{Key: event.HeaderID, Value: []byte(env.ID.String())},
			{Key: event.HeaderContentType, Value: []byte(event.ContentTypeJSON)},
		},
	}
}

// Header returns the value of the header key of m, or "".
func Header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}

	return ""
}

// ReadTopic returns every record of topic, partition by partition, within
// 10 s.
func ReadTopic(broker, topic string) ([]kafka.Message, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	conn, err := kafka.DialContext(ctx, "tcp", broker)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", broker, err)
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		return nil, fmt.Errorf("read partitions of %s: %w", topic, err)
	}

	var out []kafka.Message
	for _, p := range parts {
		msgs, err := readPartition(ctx, broker, topic, p.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, msgs...)
	}

	return out, nil
}

func readPartition(
	ctx context.Context,
	broker, topic string,
	partition int,
) ([]kafka.Message, error) {
	conn, err := kafka.DialLeader(ctx, "tcp", broker, topic, partition)
	if err != nil {
		return nil, fmt.Errorf("dial leader of %s/%d: %w", topic, partition, err)
	}
	defer conn.Close()

	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}

	first, last, err := conn.ReadOffsets()
	if err != nil {
		return nil, fmt.Errorf("read offsets of %s/%d: %w", topic, partition, err)
	}

	var out []kafka.Message
	for next := first; next < last; {
		if _, err := conn.Seek(next, kafka.SeekAbsolute); err != nil {
			return nil, fmt.Errorf("seek %s/%d to %d: %w", topic, partition,
				next, err)
		}

		// A batch ends with an error once its records are read, so the
		// error of ReadMessage only ends the batch; Close reports failures.
		start := next
		batch := conn.ReadBatch(1, 1<<20)
		for {
			m, err := batch.ReadMessage()
			if err != nil {
				break
			}
			out = append(out, m)
			next = m.Offset + 1
		}
		if err := batch.Close(); err != nil {
			return nil, fmt.Errorf("read %s/%d: %w", topic, partition, err)
		}

		if next == start {
			return nil, fmt.Errorf("read %s/%d: no record at offset %d "+
				"below the end offset %d", topic, partition, next, last)
		}
	}

	return out, nil
}
