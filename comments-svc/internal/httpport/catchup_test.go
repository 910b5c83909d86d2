package httpport_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"

	"github.com/kafkablog/blog/comments-svc/internal/comments"
	"github.com/kafkablog/blog/comments-svc/internal/dbtest"
	"github.com/kafkablog/blog/comments-svc/internal/httpport"
	"github.com/kafkablog/blog/shared/event"
	"github.com/kafkablog/blog/shared/messaging"
	"github.com/kafkablog/blog/shared/testenv"
	"github.com/kafkablog/blog/shared/testenv/kafkatest"
)

// TestCommentRoutes_rightAfterPostOnKafka wires the handlers as main does:
// the real posts consumer on Kafka and a catch-up function that waits for
// its group's committed offsets. A comment sent right after its
// PostCreated was written must be accepted, not rejected with 404.
func TestCommentRoutes_rightAfterPostOnKafka(t *testing.T) {
	t.Parallel()
	brokers := testenv.Brokers(t)
	prefix := testenv.TopicPrefix(t)
	topics := event.NewTopics(prefix)
	kafkatest.EnsureTopics(t, brokers, topics)

	writer := messaging.NewWriter(brokers)
	t.Cleanup(func() { writer.Close() })

	group := prefix + comments.Producer
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second}
	srv := newServer(t, func(
		pool *pgxpool.Pool,
		store *comments.Store,
	) httpport.CatchUp {
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

		return func(ctx context.Context) error {
			return messaging.WaitCaughtUp(ctx, client, group,
				[]string{topics.Posts}, 50*time.Millisecond)
		}
	})

	// A first post lets the consumer join its group before the timed part.
	writePost(t, writer, topics.Posts, uuid.New())
	testenv.Eventually(t, 30*time.Second, func() error {
		if dbtest.Count(t, srv.pool, "known_posts") == 0 {
			return errors.New("the first post is not known yet")
		}
		return nil
	})

	postID := uuid.New()
	writePost(t, writer, topics.Posts, postID)
	res := send(t, http.MethodPost, commentsURL(srv.url, postID.String()),
		jsonType, contentBody("Right after the post"))
	checkCreated(t, srv.pool, res, postID, "Right after the post")

	otherID := uuid.New()
	writePost(t, writer, topics.Posts, otherID)
	res = send(t, http.MethodGet, commentsURL(srv.url, otherID.String()), "",
		nil)
	if res.status != http.StatusOK {
		t.Fatalf("GET comments right after the post: status %d, want 200; "+
			"body %s", res.status, res.body)
	}
	if got := strings.TrimSpace(string(res.body)); got != "[]" {
		t.Errorf("body = %s, want []", got)
	}
}

func writePost(
	t testing.TB,
	writer *kafka.Writer,
	topic string,
	postID uuid.UUID,
) {
	t.Helper()

	env, err := event.New(event.TypePostCreated, "posts-svc",
		event.PostCreated{ID: postID, Title: "On Kafka", CreatedAt: time.Now()})
	if err != nil {
		t.Fatalf("new PostCreated: %v", err)
	}

	ctx := testenv.Context(t, 30*time.Second)
	msg := kafkatest.Message(topic, postID, env)
	if err := writer.WriteMessages(ctx, msg); err != nil {
		t.Fatalf("write PostCreated: %v", err)
	}
}
