package comments_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kafkablog/blog/comments-svc/internal/comments"
	"github.com/kafkablog/blog/comments-svc/internal/dbtest"
	"github.com/kafkablog/blog/shared/event"
	"github.com/kafkablog/blog/shared/messaging"
	"github.com/kafkablog/blog/shared/postgres"
)

func newStore(t testing.TB, pool *pgxpool.Pool) *comments.Store {
	t.Helper()

	store, err := comments.NewStore(pool, event.TopicComments)
	if err != nil {
		t.Fatalf("new store: %v", err)
	}

	return store
}

// record wraps data in a new envelope as the consumer would pass it.
func record(t testing.TB, topic, eventType string, data any) messaging.Record {
	t.Helper()

	env, err := event.New(eventType, "test", data)
	if err != nil {
		t.Fatalf("new %s event: %v", eventType, err)
	}

	return messaging.Record{Topic: topic, Event: env}
}

func postCreated(t testing.TB, id uuid.UUID) messaging.Record {
	t.Helper()

	return record(t, event.TopicPosts, event.TypePostCreated,
		event.PostCreated{ID: id, Title: "A post", CreatedAt: time.Now().UTC()})
}

func verdict(t testing.TB, c comments.Comment, status string, version int) messaging.Record {
	t.Helper()

	return record(t, event.TopicModeration, event.TypeCommentModerated,
		event.CommentModerated{
			ID:      c.ID,
			PostID:  c.PostID,
			Status:  status,
			Reason:  "test verdict",
			Version: version,
		})
}

// apply applies recs in one transaction, as the consumer applies a batch.
func apply(
	t testing.TB,
	pool *pgxpool.Pool,
	store *comments.Store,
	recs ...messaging.Record,
) error {
	t.Helper()

	ctx := context.Background()
	return postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
		return messaging.Each(store.Apply)(ctx, tx, recs)
	})
}

// knownPost announces a new post to the store and returns its id.
func knownPost(t testing.TB, pool *pgxpool.Pool, store *comments.Store) uuid.UUID {
	t.Helper()

	id := uuid.New()
	if err := apply(t, pool, store, postCreated(t, id)); err != nil {
		t.Fatalf("apply PostCreated: %v", err)
	}

	return id
}

type storedComment struct {
	status  string
	version int
}

func loadComment(t testing.TB, pool *pgxpool.Pool, id uuid.UUID) storedComment {
	t.Helper()

	var c storedComment
	err := pool.QueryRow(context.Background(),
		"SELECT status, version FROM comments WHERE id = $1", id).
		Scan(&c.status, &c.version)
	if err != nil {
		t.Fatalf("select comment %s: %v", id, err)
	}

	return c
}

// outboxTypes returns the event types queued under the post's key.
func outboxTypes(t testing.TB, pool *pgxpool.Pool, postID uuid.UUID) []string {
	t.Helper()

	var types []string
	for _, row := range dbtest.Outbox(t, pool, postID.String()) {
		types = append(types, row.EventType)
	}

	return types
}

func TestNewStore_missingDependency(t *testing.T) {
	t.Parallel()

	if _, err := comments.NewStore(nil, event.TopicComments); err == nil {
		t.Error("NewStore(nil pool) returned no error")
	}
}

func TestCreate_unknownPost(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	store := newStore(t, pool)

	_, err := store.Create(context.Background(), uuid.New(), "Hello")
	if !errors.Is(err, comments.ErrUnknownPost) {
		t.Fatalf("Create on an unknown post: err = %v, want ErrUnknownPost", err)
	}

	if n := dbtest.Count(t, pool, "comments"); n != 0 {
		t.Errorf("comments has %d rows, want 0", n)
	}
	if n := dbtest.Count(t, pool, "outbox"); n != 0 {
		t.Errorf("outbox has %d rows, want 0", n)
	}
}

func TestCreate_queuesCommentCreated(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	store := newStore(t, pool)
	postID := knownPost(t, pool, store)

	c, err := store.Create(context.Background(), postID, "First!")
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if c.Status != event.StatusPending || c.Version != 1 {
		t.Errorf("created status %q version %d, want pending version 1",
			c.Status, c.Version)
	}

	rows := dbtest.Outbox(t, pool, postID.String())
	if len(rows) != 1 {
		t.Fatalf("outbox has %d rows for the post, want 1", len(rows))
	}
	if rows[0].Topic != event.TopicComments {
		t.Errorf("outbox topic = %q, want %q", rows[0].Topic,
			event.TopicComments)
	}

	env, err := event.Decode(rows[0].Payload)
	if err != nil {
		t.Fatalf("decode outbox payload: %v", err)
	}
	data, err := event.DecodeData[event.CommentCreated](env)
	if err != nil {
		t.Fatalf("decode CommentCreated data: %v", err)
	}

	want := event.CommentCreated{
		ID: c.ID, PostID: postID, Content: "First!",
		Status: event.StatusPending, Version: 1, CreatedAt: c.CreatedAt,
	}
	if data.ID != want.ID || data.PostID != want.PostID ||
		data.Content != want.Content || data.Status != want.Status ||
		data.Version != want.Version || !data.CreatedAt.Equal(want.CreatedAt) {
		t.Errorf("event data = %+v, want %+v", data, want)
	}
}

func TestList_oldestFirst(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	store := newStore(t, pool)
	postID := knownPost(t, pool, store)
	otherPost := knownPost(t, pool, store)
	ctx := context.Background()

	var want []uuid.UUID
	for _, content := range []string{"one", "two", "three"} {
		c, err := store.Create(ctx, postID, content)
		if err != nil {
			t.Fatalf("create %q: %v", content, err)
		}
		want = append(want, c.ID)
	}
	if _, err := store.Create(ctx, otherPost, "elsewhere"); err != nil {
		t.Fatalf("create on the other post: %v", err)
	}

	list, err := store.List(ctx, postID)
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if len(list) != len(want) {
		t.Fatalf("List returned %d comments, want %d", len(list), len(want))
	}
	for i, c := range list {
		if c.ID != want[i] {
			t.Errorf("comment %d = %s, want %s", i, c.ID, want[i])
		}
	}
}

func TestApply_postCreatedTwice(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	store := newStore(t, pool)
	postID := uuid.New()
	rec := postCreated(t, postID)

	// Once in one batch with a repeat, then redelivered in a later batch.
	if err := apply(t, pool, store, rec, rec); err != nil {
		t.Fatalf("apply PostCreated twice in one batch: %v", err)
	}
	if err := apply(t, pool, store, rec); err != nil {
		t.Fatalf("apply PostCreated again: %v", err)
	}

	if n := dbtest.Count(t, pool, "known_posts"); n != 1 {
		t.Errorf("known_posts has %d rows, want 1", n)
	}

	ok, err := store.PostExists(context.Background(), postID)
	if err != nil {
		t.Fatalf("PostExists: %v", err)
	}
	if !ok {
		t.Error("PostExists = false after PostCreated")
	}

	if n := dbtest.Count(t, pool, "outbox"); n != 0 {
		t.Errorf("outbox has %d rows, want 0", n)
	}
}

func TestApply_commentModeratedTwice(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	store := newStore(t, pool)
	postID := knownPost(t, pool, store)

	c, err := store.Create(context.Background(), postID, "Nice post")
	if err != nil {
		t.Fatalf("create comment: %v", err)
	}

	rec := verdict(t, c, event.StatusApproved, 1)
	if err := apply(t, pool, store, rec); err != nil {
		t.Fatalf("apply CommentModerated: %v", err)
	}
	if err := apply(t, pool, store, rec); err != nil {
		t.Fatalf("apply CommentModerated again: %v", err)
	}

	got := loadComment(t, pool, c.ID)
	if got.status != event.StatusApproved || got.version != 2 {
		t.Errorf("comment status %q version %d, want approved version 2",
			got.status, got.version)
	}

	rows := dbtest.Outbox(t, pool, postID.String())
	types := outboxTypes(t, pool, postID)
	if len(rows) != 2 || types[1] != event.TypeCommentUpdated {
		t.Fatalf("outbox event types = %v, want CommentCreated, "+
			"CommentUpdated", types)
	}

	env, err := event.Decode(rows[1].Payload)
	if err != nil {
		t.Fatalf("decode CommentUpdated: %v", err)
	}
	data, err := event.DecodeData[event.CommentUpdated](env)
	if err != nil {
		t.Fatalf("decode CommentUpdated data: %v", err)
	}

	want := event.CommentUpdated{
		ID: c.ID, PostID: postID, Content: "Nice post",
		Status: event.StatusApproved, Version: 2,
	}
	if data != want {
		t.Errorf("CommentUpdated data = %+v, want %+v", data, want)
	}
	if rows[1].Topic != event.TopicComments {
		t.Errorf("CommentUpdated topic = %q, want %q", rows[1].Topic,
			event.TopicComments)
	}
}

func TestApply_commentModeratedChangesNothing(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	store := newStore(t, pool)
	postID := knownPost(t, pool, store)

	c, err := store.Create(context.Background(), postID, "Hello")
	if err != nil {
		t.Fatalf("create comment: %v", err)
	}
	unknown := comments.Comment{ID: uuid.New(), PostID: postID}

	cases := []struct {
		name string
		rec  messaging.Record
	}{
		{"version ahead", verdict(t, c, event.StatusRejected, 2)},
		{"version far ahead", verdict(t, c, event.StatusApproved, 7)},
		{"unknown comment", verdict(t, unknown, event.StatusApproved, 1)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := apply(t, pool, store, tc.rec); err != nil {
				t.Fatalf("apply: %v", err)
			}

			got := loadComment(t, pool, c.ID)
			if got.status != event.StatusPending || got.version != 1 {
				t.Errorf("comment status %q version %d, want pending "+
					"version 1", got.status, got.version)
			}

			types := outboxTypes(t, pool, postID)
			if len(types) != 1 {
				t.Errorf("outbox event types = %v, want only CommentCreated",
					types)
			}
		})
	}
}

func TestApply_laterVerdictForSameVersionIgnored(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	store := newStore(t, pool)
	postID := knownPost(t, pool, store)

	c, err := store.Create(context.Background(), postID, "Hello")
	if err != nil {
		t.Fatalf("create comment: %v", err)
	}

	err = apply(t, pool, store,
		verdict(t, c, event.StatusApproved, 1),
		verdict(t, c, event.StatusRejected, 1))
	if err != nil {
		t.Fatalf("apply two verdicts: %v", err)
	}

	got := loadComment(t, pool, c.ID)
	if got.status != event.StatusApproved || got.version != 2 {
		t.Errorf("comment status %q version %d, want approved version 2",
			got.status, got.version)
	}

	types := outboxTypes(t, pool, postID)
	if len(types) != 2 {
		t.Errorf("outbox event types = %v, want CommentCreated and one "+
			"CommentUpdated", types)
	}
}

func TestApply_malformedData(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	store := newStore(t, pool)

	cases := []struct {
		name string
		rec  messaging.Record
	}{
		{"PostCreated without title", record(t, event.TopicPosts,
			event.TypePostCreated, event.PostCreated{ID: uuid.New()})},
		{"PostCreated without id", record(t, event.TopicPosts,
			event.TypePostCreated, event.PostCreated{Title: "t"})},
		{"CommentModerated with pending status", record(t,
			event.TopicModeration, event.TypeCommentModerated,
			event.CommentModerated{ID: uuid.New(), PostID: uuid.New(),
				Status: event.StatusPending, Version: 1})},
		{"CommentModerated with version 0", record(t,
			event.TopicModeration, event.TypeCommentModerated,
			event.CommentModerated{ID: uuid.New(), PostID: uuid.New(),
				Status: event.StatusApproved})},
		{"CommentModerated with a string version", record(t,
			event.TopicModeration, event.TypeCommentModerated,
			map[string]any{"id": uuid.New(), "post_id": uuid.New(),
				"status": "approved", "version": "1"})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := apply(t, pool, store, tc.rec)
			if !errors.Is(err, event.ErrMalformed) {
				t.Errorf("err = %v, want one wrapping event.ErrMalformed", err)
			}
		})
	}

	if n := dbtest.Count(t, pool, "known_posts"); n != 0 {
		t.Errorf("known_posts has %d rows, want 0", n)
	}
	if n := dbtest.Count(t, pool, "outbox"); n != 0 {
		t.Errorf("outbox has %d rows, want 0", n)
	}
}

func TestApply_otherEventTypeIgnored(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	store := newStore(t, pool)

	rec := record(t, event.TopicComments, event.TypeCommentCreated,
		event.CommentCreated{ID: uuid.New(), PostID: uuid.New(),
			Content: "x", Status: event.StatusPending, Version: 1})
	if err := apply(t, pool, store, rec); err != nil {
		t.Fatalf("apply CommentCreated: %v", err)
	}

	if n := dbtest.Count(t, pool, "comments"); n != 0 {
		t.Errorf("comments has %d rows, want 0", n)
	}
	if n := dbtest.Count(t, pool, "outbox"); n != 0 {
		t.Errorf("outbox has %d rows, want 0", n)
	}
}
