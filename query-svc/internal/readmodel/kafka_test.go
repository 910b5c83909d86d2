package readmodel_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/kafkablog/blog/shared/event"
	"github.com/kafkablog/blog/shared/messaging"
	"github.com/kafkablog/blog/shared/testenv"
	"github.com/kafkablog/blog/shared/testenv/kafkatest"
)

// The shared Kafka test helpers under their local names.
var (
	ensureTopics = kafkatest.EnsureTopics
	runConsumer  = kafkatest.RunConsumer
	message      = kafkatest.Message
	header       = kafkatest.Header
	readTopic    = kafkatest.ReadTopic
)

// waitConsumed waits until the group has committed every record that
// topics hold now, so everything it applies or dead-letters is done.
func waitConsumed(t testing.TB, brokers []string, group string, topics ...string) {
	t.Helper()

	ctx := testenv.Context(t, 30*time.Second)
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second}
	err := messaging.WaitCaughtUp(ctx, client, group, topics,
		50*time.Millisecond)
	if err != nil {
		t.Fatalf("wait for group %s to consume %v: %v", group, topics, err)
	}
}

// checkDeadLetter checks that the dead-letter topic of topic holds exactly
// one record, want, on the partition of want's key, with its original
// headers and the failure and want's offset in the added ones.
func checkDeadLetter(
	t testing.TB,
	broker, topic string,
	want kafka.Message,
	offset int64,
) {
	t.Helper()

	dead, err := readTopic(broker, event.DeadLetter(topic))
	if err != nil {
		t.Fatalf("read dead-letter topic: %v", err)
	}
	if len(dead) != 1 {
		t.Fatalf("dead-letter topic has %d records, want 1", len(dead))
	}

	got := dead[0]
	if string(got.Key) != string(want.Key) {
		t.Errorf("dead letter key = %q, want %q", got.Key, want.Key)
	}
	if string(got.Value) != string(want.Value) {
		t.Errorf("dead letter value = %q, want %q", got.Value, want.Value)
	}
	if v := header(got, event.HeaderID); v != header(want, event.HeaderID) {
		t.Errorf("dead letter %s header = %q, want the original %q",
			event.HeaderID, v, header(want, event.HeaderID))
	}
	if v := header(got, messaging.HeaderDLQTopic); v != topic {
		t.Errorf("dead letter %s header = %q, want %q",
			messaging.HeaderDLQTopic, v, topic)
	}
	if v := header(got, messaging.HeaderDLQPartition); v != strconv.Itoa(got.Partition) {
		t.Errorf("dead letter %s header = %q, want %d, the partition of "+
			"the same key", messaging.HeaderDLQPartition, v, got.Partition)
	}
	if v := header(got, messaging.HeaderDLQOffset); v != strconv.FormatInt(offset, 10) {
		t.Errorf("dead letter %s header = %q, want %d",
			messaging.HeaderDLQOffset, v, offset)
	}
	if v := header(got, messaging.HeaderDLQError); v == "" {
		t.Errorf("dead letter has no %s header", messaging.HeaderDLQError)
	}
}
