package messaging_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafkablog/blog/shared/event"
	"github.com/kafkablog/blog/shared/messaging"
	"github.com/kafkablog/blog/shared/testenv"
)

func TestNewWriter_settings(t *testing.T) {
	t.Parallel()

	w := messaging.NewWriter([]string{"127.0.0.1:1"})
	defer w.Close()

	if w.RequiredAcks != kafka.RequireAll {
		t.Errorf("RequiredAcks = %v, want RequireAll (acks=all)", w.RequiredAcks)
	}
	if _, ok := w.Balancer.(*kafka.Murmur2Balancer); !ok {
		t.Errorf("Balancer = %T, want *kafka.Murmur2Balancer", w.Balancer)
	}
	if w.BatchTimeout <= 0 || w.BatchTimeout > 10*time.Millisecond {
		t.Errorf("BatchTimeout = %s, want a few milliseconds", w.BatchTimeout)
	}
	if w.Topic != "" {
		t.Errorf("Topic = %q, want empty so each message names its topic",
			w.Topic)
	}
}

// topicConfigs returns the named config values of topic.
func topicConfigs(
	t testing.TB,
	client *kafka.Client,
	topic string,
	names ...string,
) map[string]string {
	t.Helper()

	ctx := testenv.Context(t, 30*time.Second)
	res, err := client.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{
		Resources: []kafka.DescribeConfigRequestResource{{
			ResourceType: kafka.ResourceTypeTopic,
			ResourceName: topic,
			ConfigNames:  names,
		}},
	})
	if err != nil {
		t.Fatalf("describe configs of %s: %v", topic, err)
	}
	if len(res.Resources) != 1 || res.Resources[0].Error != nil {
		t.Fatalf("describe configs of %s: %+v", topic, res.Resources)
	}

	out := map[string]string{}
	for _, e := range res.Resources[0].ConfigEntries {
		out[e.ConfigName] = e.ConfigValue
	}

	return out
}

func partitionCount(t testing.TB, client *kafka.Client, topic string) int {
	t.Helper()

	ctx := testenv.Context(t, 30*time.Second)
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		t.Fatalf("metadata of %s: %v", topic, err)
	}
	if len(meta.Topics) != 1 || meta.Topics[0].Error != nil {
		t.Fatalf("metadata of %s: %+v", topic, meta.Topics)
	}

	return len(meta.Topics[0].Partitions)
}

func TestEnsureTopics_createsLogTopics(t *testing.T) {
	t.Parallel()

	brokers := testenv.Brokers(t)
	prefix := testenv.TopicPrefix(t)
	topics := event.NewTopics(prefix)
	names := []string{topics.Posts, event.DeadLetter(topics.Posts)}
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	ctx := testenv.Context(t, time.Minute)

	spec := messaging.TopicSpec{Partitions: 3, ReplicationFactor: 1}
	if err := messaging.EnsureTopics(ctx, brokers, spec, names...); err != nil {
		t.Fatalf("EnsureTopics returned %v, want nil", err)
	}

	want := map[string]string{
		"retention.ms":    "-1",
		"retention.bytes": "-1",
		"cleanup.policy":  "delete",
	}
	check := func(t *testing.T, wantPartitions int) {
		t.Helper()

		for _, topic := range names {
			got := topicConfigs(t, client, topic,
				"retention.ms", "retention.bytes", "cleanup.policy")
			for name, value := range want {
				if got[name] != value {
					t.Errorf("%s: %s = %q, want %q", topic, name, got[name], value)
				}
			}
			if n := partitionCount(t, client, topic); n != wantPartitions {
				t.Errorf("%s: %d partitions, want %d", topic, n, wantPartitions)
			}
		}
	}

	t.Run("first call creates", func(t *testing.T) {
		check(t, 3)
	})

	t.Run("second call is a no-op", func(t *testing.T) {
		other := messaging.TopicSpec{Partitions: 5, ReplicationFactor: 1}
		if err := messaging.EnsureTopics(ctx, brokers, other, names...); err != nil {
			t.Fatalf("second EnsureTopics returned %v, want nil", err)
		}
		check(t, 3)
	})
}

// closedPort returns a 127.0.0.1 address on which nothing listens.
func closedPort(t testing.TB) string {
	t.Helper()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen on a free port: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatalf("close listener: %v", err)
	}

	return addr
}

func TestEnsureTopics_unreachableBroker(t *testing.T) {
	t.Parallel()

	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()

	spec := messaging.TopicSpec{Partitions: 1, ReplicationFactor: 1}
	err := messaging.EnsureTopics(ctx, []string{closedPort(t)}, spec, "t.x")
	if err == nil {
		t.Fatal("EnsureTopics with no broker returned nil, want an error")
	}
	if !strings.HasPrefix(err.Error(), "create topics: ") {
		t.Errorf("error %q, want it to start with \"create topics: \"", err)
	}
}

func TestCheckBroker(t *testing.T) {
	t.Parallel()

	brokers := testenv.Brokers(t)
	ctx := testenv.Context(t, 30*time.Second)

	if err := messaging.CheckBroker(ctx, brokers); err != nil {
		t.Errorf("CheckBroker(%v) returned %v, want nil", brokers, err)
	}

	down := []string{closedPort(t)}
	err := messaging.CheckBroker(ctx, down)
	if err == nil {
		t.Fatalf("CheckBroker(%v) returned nil, want an error", down)
	}
	if !strings.Contains(err.Error(), "kafka unreachable") {
		t.Errorf("error %q does not say kafka is unreachable", err)
	}
}

func TestEnsureTopics_partitionsServedOnReturn(t *testing.T) {
	t.Parallel()

	brokers := testenv.Brokers(t)
	prefix := testenv.TopicPrefix(t)
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	ctx := testenv.Context(t, time.Minute)

	// Topics created at the same time make the broker slow to serve them,
	// which is when metadata can name a leader that is not serving yet.
	const topics = 20
	errs := make(chan error, topics)
	var wg sync.WaitGroup
	for i := range topics {
		wg.Add(1)
		go func() {
			defer wg.Done()

			topic := fmt.Sprintf("%sserved-%d", prefix, i)
			spec := messaging.TopicSpec{Partitions: 2, ReplicationFactor: 1}
			if err := messaging.EnsureTopics(ctx, brokers, spec, topic); err != nil {
				errs <- fmt.Errorf("EnsureTopics(%s): %w", topic, err)
				return
			}

			_, err := messaging.GroupLag(ctx, client, prefix+"group", []string{topic})
			if err != nil {
				errs <- fmt.Errorf("GroupLag right after creating %s: %w", topic, err)
			}
		}()
	}
	wg.Wait()
	close(errs)

	for err := range errs {
		t.Error(err)
	}
}
