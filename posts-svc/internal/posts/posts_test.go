package posts_test

import (
	"context"
	"testing"

	"github.com/kafkablog/blog/posts-svc/internal/dbtest"
	"github.com/kafkablog/blog/posts-svc/internal/posts"
	"github.com/kafkablog/blog/shared/event"
)

func TestNewStore_missingDependency(t *testing.T) {
	t.Parallel()

	if _, err := posts.NewStore(nil, event.TopicPosts); err == nil {
		t.Error("NewStore(nil pool) returned no error")
	}
}

func TestNewStore_missingTopic(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)

	if _, err := posts.NewStore(pool, ""); err == nil {
		t.Error(`NewStore(pool, "") returned no error`)
	}
}

// TestCreate_outboxFailureStoresNoPost checks that the post and its event
// share one transaction: without an outbox table the post is not kept.
func TestCreate_outboxFailureStoresNoPost(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	ctx := context.Background()

	store, err := posts.NewStore(pool, event.TopicPosts)
	if err != nil {
		t.Fatalf("new store: %v", err)
	}

	if _, err := pool.Exec(ctx, "DROP TABLE outbox"); err != nil {
		t.Fatalf("drop outbox: %v", err)
	}

	if _, err := store.Create(ctx, "Lost post"); err == nil {
		t.Fatal("Create without an outbox table returned no error")
	}

	if n := dbtest.Count(t, pool, "posts"); n != 0 {
		t.Errorf("posts has %d rows after the failed create, want 0", n)
	}
}

func TestCreate_eventCarriesStoredInstant(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	ctx := context.Background()

	store, err := posts.NewStore(pool, "prefix."+event.TopicPosts)
	if err != nil {
		t.Fatalf("new store: %v", err)
	}

	p, err := store.Create(ctx, "Timed post")
	if err != nil {
		t.Fatalf("create: %v", err)
	}

	list, err := store.List(ctx, 10)
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if len(list) != 1 {
		t.Fatalf("List returned %d posts, want 1: %+v", len(list), list)
	}
	if list[0].ID != p.ID || list[0].Title != p.Title ||
		!list[0].CreatedAt.Equal(p.CreatedAt) {
		t.Errorf("List = %+v, want %+v", list[0], p)
	}

	rows := dbtest.Outbox(t, pool, p.ID.String())
	if len(rows) != 1 {
		t.Fatalf("outbox has %d rows for the post, want 1", len(rows))
	}
	if rows[0].Topic != "prefix."+event.TopicPosts {
		t.Errorf("outbox topic = %q, want the store's topic %q",
			rows[0].Topic, "prefix."+event.TopicPosts)
	}

	env, err := event.Decode(rows[0].Payload)
	if err != nil {
		t.Fatalf("decode outbox payload: %v", err)
	}
	data, err := event.DecodeData[event.PostCreated](env)
	if err != nil {
		t.Fatalf("decode PostCreated data: %v", err)
	}

	// The read model orders by the event's created_at, so it must be the
	// stored instant to the microsecond.
	if !data.CreatedAt.Equal(list[0].CreatedAt) {
		t.Errorf("event created_at = %s, stored %s", data.CreatedAt,
			list[0].CreatedAt)
	}
}
