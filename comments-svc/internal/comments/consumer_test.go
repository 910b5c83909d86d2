package comments_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"

	"github.com/kafkablog/blog/comments-svc/internal/comments"
	"github.com/kafkablog/blog/comments-svc/internal/dbtest"
	"github.com/kafkablog/blog/shared/event"
	"github.com/kafkablog/blog/shared/messaging"
	"github.com/kafkablog/blog/shared/testenv"
	"github.com/kafkablog/blog/shared/testenv/kafkatest"
)

// TestConsumer_postsAndVerdicts runs the service's consumer wiring on real
// Kafka: a PostCreated makes the post known, and two verdicts with a
// non-JSON record between them on the same key are both applied while the
// bad record goes to the dead-letter topic.
func TestConsumer_postsAndVerdicts(t *testing.T) {
	t.Parallel()
	brokers := testenv.Brokers(t)
	pool := dbtest.New(t)
	prefix := testenv.TopicPrefix(t)
	topics := event.NewTopics(prefix)
	kafkatest.EnsureTopics(t, brokers, topics)
	ctx := testenv.Context(t, 2*time.Minute)

	group := prefix + comments.Producer
	store, err := comments.NewStore(pool, topics.Comments)
	if err != nil {
		t.Fatalf("new store: %v", err)
	}

	writer := messaging.NewWriter(brokers)
	t.Cleanup(func() { writer.Close() })

	kafkatest.RunConsumer(t, messaging.ConsumerConfig{
		Brokers: brokers,
		GroupID: group,
		Topics:  []string{topics.Posts, topics.Moderation},
		Types: []string{
			event.TypePostCreated,
			event.TypeCommentModerated,
		},
		Apply:      messaging.Each(store.Apply),
		Pool:       pool,
		DeadLetter: writer,
	})

	postID := uuid.New()
	err = writer.WriteMessages(ctx,
		kafkatest.Message(topics.Posts, postID, postCreated(t, postID).Event))
	if err != nil {
		t.Fatalf("write PostCreated: %v", err)
	}

	waitConsumed(t, brokers, group, topics.Posts)
	ok, err := store.PostExists(ctx, postID)
	if err != nil {
		t.Fatalf("PostExists: %v", err)
	}
	if !ok {
		t.Fatal("post is not known after its PostCreated was consumed")
	}

	first, err := store.Create(ctx, postID, "Lovely post")
	if err != nil {
		t.Fatalf("create first comment: %v", err)
	}
	second, err := store.Create(ctx, postID, "I hate orange")
	if err != nil {
		t.Fatalf("create second comment: %v", err)
	}

	garbage := kafka.Message{
		Topic: topics.Moderation,
		Key:   []byte(postID.String()),
		Value: []byte("this is not JSON {"),
		Headers: []kafka.Header{
			{Key: event.HeaderID, Value: []byte("garbage-1")},
		},
	}
	err = writer.WriteMessages(ctx,
		kafkatest.Message(topics.Moderation, postID,
			verdict(t, first, event.StatusApproved, 1).Event),
		garbage,
		kafkatest.Message(topics.Moderation, postID,
			verdict(t, second, event.StatusRejected, 1).Event))
	if err != nil {
		t.Fatalf("write verdicts: %v", err)
	}

	waitConsumed(t, brokers, group, topics.Posts, topics.Moderation)

	checks := []struct {
		comment comments.Comment
		want    string
	}{
		{first, event.StatusApproved},
		{second, event.StatusRejected},
	}
	for _, check := range checks {
		got := loadComment(t, pool, check.comment.ID)
		if got.status != check.want || got.version != 2 {
			t.Errorf("comment %q is %s version %d, want %s version 2",
				check.comment.Content, got.status, got.version, check.want)
		}
	}

	types := outboxTypes(t, pool, postID)
	if len(types) != 4 {
		t.Errorf("outbox event types = %v, want two CommentCreated and two "+
			"CommentUpdated", types)
	}

	checkDeadLetter(t, brokers[0], topics.Moderation, garbage, 1)

	dead, err := kafkatest.ReadTopic(brokers[0], event.DeadLetter(topics.Posts))
	if err != nil {
		t.Fatalf("read posts dead-letter topic: %v", err)
	}
	if len(dead) != 0 {
		t.Errorf("posts dead-letter topic has %d records, want 0", len(dead))
	}
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

	dead, err := kafkatest.ReadTopic(broker, event.DeadLetter(topic))
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

	wantID := kafkatest.Header(want, event.HeaderID)
	if v := kafkatest.Header(got, event.HeaderID); v != wantID {
		t.Errorf("dead letter %s header = %q, want the original %q",
			event.HeaderID, v, wantID)
	}
	if v := kafkatest.Header(got, messaging.HeaderDLQTopic); v != topic {
		t.Errorf("dead letter %s header = %q, want %q",
			messaging.HeaderDLQTopic, v, topic)
	}

	partition := strconv.Itoa(got.Partition)
	if v := kafkatest.Header(got, messaging.HeaderDLQPartition); v != partition {
		t.Errorf("dead letter %s header = %q, want %s, the partition of "+
			"the same key", messaging.HeaderDLQPartition, v, partition)
	}

	wantOffset := strconv.FormatInt(offset, 10)
	if v := kafkatest.Header(got, messaging.HeaderDLQOffset); v != wantOffset {
		t.Errorf("dead letter %s header = %q, want %s",
			messaging.HeaderDLQOffset, v, wantOffset)
	}
	if v := kafkatest.Header(got, messaging.HeaderDLQError); v == "" {
		t.Errorf("dead letter has no %s header", messaging.HeaderDLQError)
	}
}
