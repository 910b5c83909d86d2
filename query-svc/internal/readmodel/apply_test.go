package readmodel_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kafkablog/blog/query-svc/internal/dbtest"
	"github.com/kafkablog/blog/query-svc/internal/readmodel"
	"github.com/kafkablog/blog/shared/event"
	"github.com/kafkablog/blog/shared/messaging"
	"github.com/kafkablog/blog/shared/postgres"
)

// base is the creation time of the first post and comment in these tests.
var base = time.Date(2026, 12, 4, 10, 0, 0, 123456000, time.UTC)

func record(t testing.TB, topic, eventType string, data any) messaging.Record {
	t.Helper()

	env, err := event.New(eventType, "test", data)
	if err != nil {
		t.Fatalf("new %s event: %v", eventType, err)
	}

	return messaging.Record{Topic: topic, Event: env}
}

func postCreated(t testing.TB, id uuid.UUID, title string, at time.Time) messaging.Record {
	t.Helper()

	return record(t, event.TopicPosts, event.TypePostCreated,
		event.PostCreated{ID: id, Title: title, CreatedAt: at})
}

func commentCreated(
	t testing.TB,
	id, postID uuid.UUID,
	content string,
	at time.Time,
) messaging.Record {
	t.Helper()

	return record(t, event.TopicComments, event.TypeCommentCreated,
		event.CommentCreated{ID: id, PostID: postID, Content: content,
			Status: event.StatusPending, Version: 1, CreatedAt: at})
}

func commentUpdated(
	t testing.TB,
	id, postID uuid.UUID,
	content, status string,
	version int,
) messaging.Record {
	t.Helper()

	return record(t, event.TopicComments, event.TypeCommentUpdated,
		event.CommentUpdated{ID: id, PostID: postID, Content: content,
			Status: status, Version: version})
}

// apply applies recs in one transaction, as the consumer applies a batch.
func apply(t testing.TB, pool *pgxpool.Pool, recs ...messaging.Record) error {
	t.Helper()

	ctx := context.Background()
	return postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
		return readmodel.Apply(ctx, tx, recs)
	})
}

func mustApply(t testing.TB, pool *pgxpool.Pool, recs ...messaging.Record) {
	t.Helper()

	if err := apply(t, pool, recs...); err != nil {
		t.Fatalf("apply %d events: %v", len(recs), err)
	}
}

// snapshot returns every row of the read model as JSON lines in id order.
func snapshot(t testing.TB, pool *pgxpool.Pool) string {
	t.Helper()

	var lines []string
	for _, table := range []string{"posts", "comments"} {
		rows, err := pool.Query(context.Background(),
			"SELECT row_to_json(r)::text FROM "+table+" r ORDER BY id")
		if err != nil {
			t.Fatalf("select %s: %v", table, err)
		}

		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("read %s: %v", table, err)
		}
		lines = append(lines, table+":")
		lines = append(lines, got...)
	}

	return strings.Join(lines, "\n")
}

type commentState struct {
	content   string
	status    string
	version   int
	createdAt *time.Time
}

func loadComment(t testing.TB, pool *pgxpool.Pool, id uuid.UUID) commentState {
	t.Helper()

	var c commentState
	err := pool.QueryRow(context.Background(), `
		SELECT content, status, version, created_at FROM comments
		WHERE id = $1`, id).Scan(&c.content, &c.status, &c.version, &c.createdAt)
	if err != nil {
		t.Fatalf("select comment %s: %v", id, err)
	}

	return c
}

func TestApply_replayChangesNothing(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)

	first, second := uuid.New(), uuid.New()
	c1, c2, c3 := uuid.New(), uuid.New(), uuid.New()
	batch := []messaging.Record{
		postCreated(t, first, "First <post>", base),
		commentCreated(t, c1, first, "Nice 👍", base.Add(time.Second)),
		commentCreated(t, c2, first, "Orange!", base.Add(2*time.Second)),
		commentUpdated(t, c1, first, "Nice 👍", event.StatusApproved, 2),
		postCreated(t, second, "Second", base.Add(time.Minute)),
		commentCreated(t, c3, second, "Hmm", base.Add(time.Minute)),
		commentUpdated(t, c2, first, "Orange!", event.StatusRejected, 2),
	}

	mustApply(t, pool, batch...)
	want := snapshot(t, pool)

	// The whole batch again, as after a crash before the offset commit.
	mustApply(t, pool, batch...)
	if got := snapshot(t, pool); got != want {
		t.Errorf("after replaying the batch:\n%s\nwant:\n%s", got, want)
	}

	// One event per transaction, as the consumer applies after a failure.
	for _, rec := range batch {
		mustApply(t, pool, rec)
	}
	if got := snapshot(t, pool); got != want {
		t.Errorf("after replaying event by event:\n%s\nwant:\n%s", got, want)
	}

	checks := []struct {
		id      uuid.UUID
		status  string
		version int
	}{
		{c1, event.StatusApproved, 2},
		{c2, event.StatusRejected, 2},
		{c3, event.StatusPending, 1},
	}
	for _, check := range checks {
		got := loadComment(t, pool, check.id)
		if got.status != check.status || got.version != check.version {
			t.Errorf("comment %s is %s version %d, want %s version %d",
				check.id, got.status, got.version, check.status, check.version)
		}
	}
}

func TestApply_lowerVersionIgnored(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)

	eachAlone := func(recs []messaging.Record) [][]messaging.Record {
		batches := make([][]messaging.Record, len(recs))
		for i, rec := range recs {
			batches[i] = []messaging.Record{rec}
		}
		return batches
	}
	allTogether := func(recs []messaging.Record) [][]messaging.Record {
		return [][]messaging.Record{recs}
	}

	cases := []struct {
		name    string
		batches func([]messaging.Record) [][]messaging.Record
	}{
		{"separate batches", eachAlone},
		{"one batch", allTogether},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			postID, id := uuid.New(), uuid.New()
			created := commentCreated(t, id, postID, "v1 text", base)

			// Version 3 arrives before version 2, then another version 3
			// and a redelivered CommentCreated.
			events := []messaging.Record{
				created,
				commentUpdated(t, id, postID, "v3 text", event.StatusApproved, 3),
				commentUpdated(t, id, postID, "v2 text", event.StatusRejected, 2),
				commentUpdated(t, id, postID, "other v3", event.StatusRejected, 3),
				created,
			}
			for _, batch := range tc.batches(events) {
				mustApply(t, pool, batch...)
			}

			got := loadComment(t, pool, id)
			if got.content != "v3 text" || got.status != event.StatusApproved ||
				got.version != 3 {
				t.Errorf("comment = %q %s version %d, want %q approved "+
					"version 3", got.content, got.status, got.version,
					"v3 text")
			}
			if got.createdAt == nil || !got.createdAt.Equal(base) {
				t.Errorf("created_at = %v, want %s", got.createdAt, base)
			}
		})
	}
}

// TestApply_updateBeforeCreate covers a CommentUpdated that arrives before
// its CommentCreated: the later, older CommentCreated only fills in the
// creation time.
func TestApply_updateBeforeCreate(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	postID, id := uuid.New(), uuid.New()

	mustApply(t, pool,
		commentUpdated(t, id, postID, "final", event.StatusApproved, 2))

	got := loadComment(t, pool, id)
	if got.createdAt != nil {
		t.Errorf("created_at = %v before the CommentCreated, want NULL",
			got.createdAt)
	}

	mustApply(t, pool, commentCreated(t, id, postID, "first draft", base))

	got = loadComment(t, pool, id)
	if got.content != "final" || got.status != event.StatusApproved ||
		got.version != 2 {
		t.Errorf("comment = %q %s version %d, want %q approved version 2",
			got.content, got.status, got.version, "final")
	}
	if got.createdAt == nil || !got.createdAt.Equal(base) {
		t.Errorf("created_at = %v, want %s", got.createdAt, base)
	}
}

func TestApply_commentBeforePost(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	reader := readmodel.NewReader(pool)
	ctx := context.Background()
	postID, commentID := uuid.New(), uuid.New()

	mustApply(t, pool, commentCreated(t, commentID, postID, "Early", base))

	if _, err := reader.Get(ctx, postID); !errors.Is(err, readmodel.ErrNotFound) {
		t.Errorf("Get before the post: err = %v, want ErrNotFound", err)
	}

	list, err := reader.List(ctx, 50, nil)
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if len(list) != 0 {
		t.Errorf("List before the post = %+v, want no posts", list)
	}

	mustApply(t, pool, postCreated(t, postID, "Late post", base))

	p, err := reader.Get(ctx, postID)
	if err != nil {
		t.Fatalf("Get after the post: %v", err)
	}
	if len(p.Comments) != 1 || p.Comments[0].ID != commentID ||
		p.Comments[0].Content != "Early" ||
		p.Comments[0].Status != event.StatusPending {
		t.Errorf("comments = %+v, want the early comment, pending", p.Comments)
	}
}

func TestApply_firstPostCreatedKept(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	postID := uuid.New()

	mustApply(t, pool, postCreated(t, postID, "Original", base))
	mustApply(t, pool, postCreated(t, postID, "Replayed with a change",
		base.Add(time.Hour)))

	p, err := readmodel.NewReader(pool).Get(context.Background(), postID)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if p.Title != "Original" || !p.CreatedAt.Equal(base) {
		t.Errorf("post = %q at %s, want %q at %s", p.Title, p.CreatedAt,
			"Original", base)
	}
}

func TestApply_malformedData(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	good := postCreated(t, uuid.New(), "Good", base)

	cases := []struct {
		name string
		rec  messaging.Record
	}{
		{"PostCreated without title", record(t, event.TopicPosts,
			event.TypePostCreated, event.PostCreated{ID: uuid.New()})},
		{"CommentCreated without post id", record(t, event.TopicComments,
			event.TypeCommentCreated, event.CommentCreated{ID: uuid.New(),
				Status: event.StatusPending, Version: 1})},
		{"CommentUpdated with unknown status", record(t,
			event.TopicComments, event.TypeCommentUpdated,
			event.CommentUpdated{ID: uuid.New(), PostID: uuid.New(),
				Status: "hidden", Version: 2})},
		{"CommentCreated with a string version", record(t,
			event.TopicComments, event.TypeCommentCreated,
			map[string]any{"id": uuid.New(), "post_id": uuid.New(),
				"status": "pending", "version": "1"})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := apply(t, pool, good, tc.rec)
			if !errors.Is(err, event.ErrMalformed) {
				t.Errorf("err = %v, want one wrapping event.ErrMalformed", err)
			}
		})
	}

	// A failed batch stores nothing, not even its good events.
	if n := dbtest.Count(t, pool, "posts"); n != 0 {
		t.Errorf("posts has %d rows, want 0", n)
	}
	if n := dbtest.Count(t, pool, "comments"); n != 0 {
		t.Errorf("comments has %d rows, want 0", n)
	}
}

func TestApply_otherEventTypeIgnored(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)

	rec := record(t, event.TopicModeration, event.TypeCommentModerated,
		event.CommentModerated{ID: uuid.New(), PostID: uuid.New(),
			Status: event.StatusApproved, Version: 1})
	if err := apply(t, pool, rec); err != nil {
		t.Fatalf("apply CommentModerated: %v", err)
	}

	if got := snapshot(t, pool); got != "posts:\ncomments:" {
		t.Errorf("read model = %s, want it empty", got)
	}
}
