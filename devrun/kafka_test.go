package main

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

func TestStartKafka_produceConsumeCommit(t *testing.T) {
	t.Parallel()

	dataDir := t.TempDir()
	cluster, addr, err := startKafka(0, dataDir, discardLogger())
	if err != nil {
		t.Fatalf("startKafka: %v", err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			cluster.Close()
		}
	})

	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("split broker address %q: %v", addr, err)
	}

	if host != "127.0.0.1" {
		t.Fatalf("broker host = %q, want 127.0.0.1", host)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	client := &kafka.Client{Addr: kafka.TCP(addr)}
	const topic = "devrun.test"
	createTopic(ctx, t, client, topic)

	writer := &kafka.Writer{
		Addr:         kafka.TCP(addr),
		Topic:        topic,
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 5 * time.Millisecond,
	}
	defer writer.Close()

	err = writer.WriteMessages(ctx, kafka.Message{
		Key:     []byte("post-1"),
		Value:   []byte(`{"type":"PostCreated"}`),
		Headers: []kafka.Header{{Key: "event-type", Value: []byte("PostCreated")}},
	})
	if err != nil {
		t.Fatalf("write message: %v", err)
	}

	const group = "devrun-test-group"
	msg := fetchAndCommit(ctx, t, addr, topic, group)

	if string(msg.Key) != "post-1" {
		t.Errorf("key = %q, want post-1", msg.Key)
	}

	if string(msg.Value) != `{"type":"PostCreated"}` {
		t.Errorf("value = %q, want the written value", msg.Value)
	}

	if len(msg.Headers) != 1 || string(msg.Headers[0].Value) != "PostCreated" {
		t.Errorf("headers = %v, want event-type PostCreated", msg.Headers)
	}

	committed := committedOffset(ctx, t, client, group, topic, msg.Partition)
	if committed != msg.Offset+1 {
		t.Errorf("committed offset = %d, want %d", committed, msg.Offset+1)
	}

	// A broker started again on the same folder has the record and the
	// group's offset.
	cluster.Close()
	closed = true
	again, addr2, err := startKafka(0, dataDir, discardLogger())
	if err != nil {
		t.Fatalf("start the broker again on its data folder: %v", err)
	}
	t.Cleanup(again.Close)

	client2 := &kafka.Client{Addr: kafka.TCP(addr2)}
	committed = committedOffset(ctx, t, client2, group, topic, msg.Partition)
	if committed != msg.Offset+1 {
		t.Errorf("committed offset after a restart = %d, want %d",
			committed, msg.Offset+1)
	}

	offsets, err := client2.ListOffsets(ctx, &kafka.ListOffsetsRequest{
		Topics: map[string][]kafka.OffsetRequest{
			topic: {kafka.LastOffsetOf(msg.Partition)},
		},
	})
	if err != nil {
		t.Fatalf("list offsets after a restart: %v", err)
	}

	end := offsets.Topics[topic][0].LastOffset
	if end != msg.Offset+1 {
		t.Errorf("log end offset after a restart = %d, want %d", end,
			msg.Offset+1)
	}
}

func createTopic(
	ctx context.Context,
	tb testing.TB,
	client *kafka.Client,
	topic string,
) {
	tb.Helper()

	resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{
		Topics: []kafka.TopicConfig{{
			Topic:             topic,
			NumPartitions:     3,
			ReplicationFactor: 1,
			ConfigEntries: []kafka.ConfigEntry{
				{ConfigName: "retention.ms", ConfigValue: "-1"},
			},
		}},
	})
	if err != nil {
		tb.Fatalf("create topic %s: %v", topic, err)
	}

	if err := resp.Errors[topic]; err != nil {
		tb.Fatalf("create topic %s: %v", topic, err)
	}
}

// fetchAndCommit reads one message as a member of group and commits it,
// as the services' consumers do.
func fetchAndCommit(
	ctx context.Context,
	tb testing.TB,
	addr, topic, group string,
) kafka.Message {
	tb.Helper()

	reader := kafka.NewReader(kafka.ReaderConfig{
		Brokers:     []string{addr},
		GroupID:     group,
		Topic:       topic,
		StartOffset: kafka.FirstOffset,
		MaxWait:     100 * time.Millisecond,
	})
	defer reader.Close()

	msg, err := reader.FetchMessage(ctx)
	if err != nil {
		tb.Fatalf("fetch message: %v", err)
	}

	if err := reader.CommitMessages(ctx, msg); err != nil {
		tb.Fatalf("commit message: %v", err)
	}

	return msg
}

func committedOffset(
	ctx context.Context,
	tb testing.TB,
	client *kafka.Client,
	group, topic string,
	partition int,
) int64 {
	tb.Helper()

	resp, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{
		GroupID: group,
		Topics:  map[string][]int{topic: {partition}},
	})
	if err != nil {
		tb.Fatalf("fetch committed offsets: %v", err)
	}

	if resp.Error != nil {
		tb.Fatalf("fetch committed offsets: %v", resp.Error)
	}

	for _, p := range resp.Topics[topic] {
		if p.Partition == partition {
			if p.Error != nil {
				tb.Fatalf("committed offset of partition %d: %v",
					partition, p.Error)
			}

			return p.CommittedOffset
		}
	}

	tb.Fatalf("no committed offset for %s partition %d", topic, partition)
	return 0
}
