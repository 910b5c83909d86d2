package readmodel_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"

	"github.com/kafkablog/blog/query-svc/internal/dbtest"
	"github.com/kafkablog/blog/query-svc/internal/readmodel"
	"github.com/kafkablog/blog/shared/event"
	"github.com/kafkablog/blog/shared/messaging"
	"github.com/kafkablog/blog/shared/testenv"
)

// TestConsumer_buildsReadModel runs the service's consumer wiring on real
// Kafka. Two comments with a non-JSON record between them on the same key
// are both applied, the bad record goes to the dead-letter topic, and a
// CommentUpdated raises the first comment's status.
func TestConsumer_buildsReadModel(t *testing.T) {
	t.Parallel()
	brokers := testenv.Brokers(t)
	pool := dbtest.New(t)
	prefix := testenv.TopicPrefix(t)
	topics := event.NewTopics(prefix)
	ensureTopics(t, brokers, topics)
	ctx := testenv.Context(t, 2*time.Minute)

	writer := messaging.NewWriter(brokers)
	t.Cleanup(func() { writer.Close() })

	group := prefix + "query-svc"
	runConsumer(t, messaging.ConsumerConfig{
		Brokers: brokers,
		GroupID: group,
		Topics:  []string{topics.Posts, topics.Comments},
		Types: []string{
			event.TypePostCreated,
			event.TypeCommentCreated,
			event.TypeCommentUpdated,
		},
		Apply:      readmodel.Apply,
		Pool:       pool,
		DeadLetter: writer,
	})

	postID, c1, c2 := uuid.New(), uuid.New(), uuid.New()
	garbage := kafka.Message{
		Topic: topics.Comments,
		Key:   []byte(postID.String()),
		Value: []byte(`{"id": "not closed"`),
		Headers: []kafka.Header{
			{Key: event.HeaderID, Value: []byte("garbage-1")},
		},
	}
	err := writer.WriteMessages(ctx,
		message(topics.Comments, postID,
			commentCreated(t, c1, postID, "Lovely <b>post</b>", base).Event),
		garbage,
		message(topics.Comments, postID,
			commentCreated(t, c2, postID, "Second", base.Add(time.Second)).Event),
		message(topics.Comments, postID,
			commentUpdated(t, c1, postID, "Lovely <b>post</b>",
				event.StatusApproved, 2).Event),
		message(topics.Posts, postID,
			postCreated(t, postID, "On Kafka", base).Event))
	if err != nil {
		t.Fatalf("write events: %v", err)
	}

	waitConsumed(t, brokers, group, topics.Posts, topics.Comments)

	p, err := readmodel.NewReader(pool).Get(context.Background(), postID)
	if err != nil {
		t.Fatalf("get post: %v", err)
	}

	want := []readmodel.Comment{
		{ID: c1, Content: "Lovely <b>post</b>", Status: event.StatusApproved},
		{ID: c2, Content: "Second", Status: event.StatusPending},
	}
	if p.Title != "On Kafka" || !slices.Equal(p.Comments, want) {
		t.Errorf("post = %q with %+v, want %q with %+v", p.Title, p.Comments,
			"On Kafka", want)
	}

	checkDeadLetter(t, brokers[0], topics.Comments, garbage, 1)

	dead, err := readTopic(brokers[0], event.DeadLetter(topics.Posts))
	if err != nil {
		t.Fatalf("read posts dead-letter topic: %v", err)
	}
	if len(dead) != 0 {
		t.Errorf("posts dead-letter topic has %d records, want 0", len(dead))
	}
}
