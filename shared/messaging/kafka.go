// Package messaging holds the Kafka plumbing every service shares: a
// producer configured for durable writes, topic creation with the log's
// retention rules, a fetch-apply-commit consumer with a dead-letter topic,
// and consumer-group lag.
package messaging

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"
)

// NewWriter returns a producer that waits for all in-sync replicas to
// acknowledge each write (acks=all), sends a batch after at most 5 ms, and
// places keys with the Java client's murmur2 partitioner so every tool
// agrees on a post's partition. Each message names its topic.
func NewWriter(brokers []string) *kafka.Writer {
	return &kafka.Writer{
		Addr:            kafka.TCP(brokers...),
		Balancer:        &kafka.Murmur2Balancer{},
		RequiredAcks:    kafka.RequireAll,
		BatchTimeout:    5 * time.Millisecond,
		BatchSize:       1000,
		MaxAttempts:     10,
		WriteBackoffMin: 50 * time.Millisecond,
		WriteBackoffMax: 2 * time.Second,
	}
}

// TopicSpec describes the topics a service creates at start-up.
type TopicSpec struct {
	Partitions        int
	ReplicationFactor int
}

// logConfig keeps every event forever: no time or size retention and no
// compaction, because the key is the post id and compaction would drop
// comments.
var logConfig = []kafka.ConfigEntry{
	{ConfigName: "retention.ms", ConfigValue: "-1"},
	{ConfigName: "retention.bytes", ConfigValue: "-1"},
	{ConfigName: "cleanup.policy", ConfigValue: "delete"},
}

// EnsureTopics creates each topic that does not exist yet with the log's
// retention rules, retrying while the broker is unreachable until ctx is
// done. Existing topics are left as they are.
func EnsureTopics(
	ctx context.Context,
	brokers []string,
	spec TopicSpec,
	topics ...string,
) error {
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}

	req := &kafka.CreateTopicsRequest{}
	for _, t := range topics {
		req.Topics = append(req.Topics, kafka.TopicConfig{
			Topic:             t,
			NumPartitions:     spec.Partitions,
			ReplicationFactor: spec.ReplicationFactor,
			ConfigEntries:     logConfig,
		})
	}

	for attempt := 1; ; attempt++ {
		err := createTopics(ctx, client, req)
		if err == nil {
			return waitForLeaders(ctx, client, topics)
		}

		if attempt == 1 || attempt%10 == 0 {
			slog.WarnContext(ctx, "kafka not reachable yet",
				"brokers", brokers, "attempt", attempt, "error", err)
		}

		select {
		case <-ctx.Done():
			return fmt.Errorf("create topics: %w", err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func createTopics(
	ctx context.Context,
	client *kafka.Client,
	req *kafka.CreateTopicsRequest,
) error {
	res, err := client.CreateTopics(ctx, req)
	if err != nil {
		return err
	}

	for topic, err := range res.Errors {
		if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			return fmt.Errorf("topic %s: %w", topic, err)
		}
	}

	return nil
}

// waitForLeaders returns once every partition of topics has a leader that
// serves offset requests, since a write or an offset lookup right after
// creation can otherwise fail. Metadata can name a leader before that
// broker serves the partition, and the broker then returns
// NotLeaderForPartition.
func waitForLeaders(ctx context.Context, client *kafka.Client, topics []string) error {
	for {
		meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
		if err == nil && allLed(meta, len(topics)) &&
			servesOffsets(ctx, client, meta) {
			return nil
		}

		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for topic leaders: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func allLed(meta *kafka.MetadataResponse, want int) bool {
	if len(meta.Topics) != want {
		return false
	}

	for _, t := range meta.Topics {
		if t.Error != nil || len(t.Partitions) == 0 {
			return false
		}
		for _, p := range t.Partitions {
			if p.Error != nil || p.Leader.Host == "" {
				return false
			}
		}
	}

	return true
}

// servesOffsets reports whether the leader of every partition in meta
// returns the partition's end offset without an error.
func servesOffsets(
	ctx context.Context,
	client *kafka.Client,
	meta *kafka.MetadataResponse,
) bool {
	parts := make(map[string][]int, len(meta.Topics))
	for _, t := range meta.Topics {
		for _, p := range t.Partitions {
			parts[t.Name] = append(parts[t.Name], p.ID)
		}
	}

	_, err := listOffsets(ctx, client, parts, false)
	return err == nil
}

// CheckBroker returns an error unless one of brokers returns metadata. It
// backs readiness checks.
func CheckBroker(ctx context.Context, brokers []string) error {
	var lastErr error
	for _, b := range brokers {
		conn, err := (&kafka.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, "tcp", b)
		if err != nil {
			lastErr = err
			continue
		}

		_, err = conn.Brokers()
		conn.Close()
		if err == nil {
			return nil
		}
		lastErr = err
	}

	return fmt.Errorf("kafka unreachable: %w", lastErr)
}
