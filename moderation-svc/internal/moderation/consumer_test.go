package moderation_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"

	"github.com/kafkablog/blog/moderation-svc/internal/moderation"
	"github.com/kafkablog/blog/shared/event"
	"github.com/kafkablog/blog/shared/messaging"
	"github.com/kafkablog/blog/shared/testenv"
)

// TestConsumer_judgesComments runs the service's consumer wiring on real
// Kafka. Two comments with a non-JSON record between them on the same key
// are both judged, the bad record goes to the dead-letter topic, and a
// CommentUpdated, which the moderator does not handle, is skipped.
func TestConsumer_judgesComments(t *testing.T) {
	t.Parallel()
	brokers := testenv.Brokers(t)
	pool := newDB(t)
	prefix := testenv.TopicPrefix(t)
	topics := event.NewTopics(prefix)
	ensureTopics(t, brokers, topics)
	ctx := testenv.Context(t, 2*time.Minute)

	writer := messaging.NewWriter(brokers)
	t.Cleanup(func() { writer.Close() })

	group := prefix + moderation.Producer
	moderator := moderation.NewModerator(mustPolicy(t, "orange"),
		topics.Moderation)
	runConsumer(t, messaging.ConsumerConfig{
		Brokers:    brokers,
		GroupID:    group,
		Topics:     []string{topics.Comments},
		Types:      []string{event.TypeCommentCreated},
		Apply:      messaging.Each(moderator.Apply),
		Pool:       pool,
		DeadLetter: writer,
	})

	postID := uuid.New()
	approved := commentCreated(t, postID, "Lovely post", 1)
	rejected := commentCreated(t, postID, "Orange is the new black", 1)
	c1 := decodeComment(t, approved)
	updated, err := event.New(event.TypeCommentUpdated, "comments-svc",
		event.CommentUpdated{ID: c1.ID, PostID: postID, Content: c1.Content,
			Status: event.StatusApproved, Version: 2})
	if err != nil {
		t.Fatalf("new CommentUpdated: %v", err)
	}
	garbage := kafka.Message{
		Topic: topics.Comments,
		Key:   []byte(postID.String()),
		Value: []byte{0xff, 0xfe, 'n', 'o', 't', ' ', 'J', 'S', 'O', 'N'},
		Headers: []kafka.Header{
			{Key: event.HeaderID, Value: []byte("garbage-1")},
		},
	}

	err = writer.WriteMessages(ctx,
		message(topics.Comments, postID, approved.Event),
		garbage,
		message(topics.Comments, postID, updated),
		message(topics.Comments, postID, rejected.Event))
	if err != nil {
		t.Fatalf("write comment events: %v", err)
	}

	waitConsumed(t, brokers, group, topics.Comments)

	checks := []struct {
		comment event.CommentCreated
		want    string
	}{
		{c1, event.StatusApproved},
		{decodeComment(t, rejected), event.StatusRejected},
	}
	for _, check := range checks {
		got := verdicts(t, pool, check.comment.ID)
		if len(got) != 1 || got[0].status != check.want {
			t.Errorf("verdicts of %q = %+v, want one %s",
				check.comment.Content, got, check.want)
		}
	}

	if n := countRows(t, pool, "outbox"); n != 2 {
		t.Errorf("outbox has %d rows, want 2 CommentModerated", n)
	}

	checkDeadLetter(t, brokers[0], topics.Comments, garbage, 1)
}

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
