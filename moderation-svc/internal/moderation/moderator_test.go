package moderation_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kafkablog/blog/moderation-svc/internal/moderation"
	"github.com/kafkablog/blog/shared/event"
	"github.com/kafkablog/blog/shared/messaging"
	"github.com/kafkablog/blog/shared/postgres"
)

func commentCreated(
	t testing.TB,
	postID uuid.UUID,
	content string,
	version int,
) messaging.Record {
	t.Helper()

	return commentRecord(t, event.CommentCreated{
		ID:        uuid.New(),
		PostID:    postID,
		Content:   content,
		Status:    event.StatusPending,
		Version:   version,
		CreatedAt: time.Now().UTC(),
	})
}

func commentRecord(t testing.TB, data any) messaging.Record {
	t.Helper()

	env, err := event.New(event.TypeCommentCreated, "comments-svc", data)
	if err != nil {
		t.Fatalf("new CommentCreated: %v", err)
	}

	return messaging.Record{Topic: event.TopicComments, Event: env}
}

// apply applies recs in one transaction, as the consumer applies a batch.
func apply(
	t testing.TB,
	pool *pgxpool.Pool,
	m *moderation.Moderator,
	recs ...messaging.Record,
) error {
	t.Helper()

	ctx := context.Background()
	return postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
		return messaging.Each(m.Apply)(ctx, tx, recs)
	})
}

type verdictRow struct {
	version int
	postID  uuid.UUID
	status  string
	reason  string
}

func verdicts(t testing.TB, pool *pgxpool.Pool, commentID uuid.UUID) []verdictRow {
	t.Helper()

	rows, err := pool.Query(context.Background(), `
		SELECT version, post_id, status, reason FROM moderations
		WHERE comment_id = $1 ORDER BY version`, commentID)
	if err != nil {
		t.Fatalf("select verdicts: %v", err)
	}

	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (verdictRow, error) {
		var v verdictRow
		err := row.Scan(&v.version, &v.postID, &v.status, &v.reason)
		return v, err
	})
	if err != nil {
		t.Fatalf("read verdicts: %v", err)
	}

	return out
}

// checkModeratedEvent checks that row is the CommentModerated event for
// comment c with status and version.
func checkModeratedEvent(
	t testing.TB,
	row outboxRow,
	c event.CommentCreated,
	status string,
) {
	t.Helper()

	if row.topic != event.TopicModeration {
		t.Errorf("outbox topic = %q, want %q", row.topic, event.TopicModeration)
	}
	if row.key != c.PostID.String() {
		t.Errorf("outbox key = %q, want the post id %s", row.key, c.PostID)
	}
	if row.eventType != event.TypeCommentModerated {
		t.Errorf("outbox event type = %q, want %q", row.eventType,
			event.TypeCommentModerated)
	}

	env, err := event.Decode(row.payload)
	if err != nil {
		t.Fatalf("decode outbox payload: %v", err)
	}
	if env.ID != row.eventID || env.Producer != moderation.Producer {
		t.Errorf("envelope id %s producer %q, want id %s producer %q",
			env.ID, env.Producer, row.eventID, moderation.Producer)
	}

	data, err := event.DecodeData[event.CommentModerated](env)
	if err != nil {
		t.Fatalf("decode CommentModerated data: %v", err)
	}
	if data.ID != c.ID || data.PostID != c.PostID ||
		data.Status != status || data.Version != c.Version {
		t.Errorf("event data = %+v, want comment %s post %s status %s "+
			"version %d", data, c.ID, c.PostID, status, c.Version)
	}
	if status == event.StatusRejected && data.Reason == "" {
		t.Error("rejection carries no reason")
	}
}

func decodeComment(t testing.TB, rec messaging.Record) event.CommentCreated {
	t.Helper()

	c, err := event.DecodeData[event.CommentCreated](rec.Event)
	if err != nil {
		t.Fatalf("decode CommentCreated: %v", err)
	}

	return c
}

func newModerator(t testing.TB) *moderation.Moderator {
	t.Helper()

	return moderation.NewModerator(mustPolicy(t, "orange"),
		event.TopicModeration)
}

func TestModeratorApply_sameCommentTwice(t *testing.T) {
	t.Parallel()

	cases := []struct {
		name    string
		content string
		status  string
	}{
		{"approved", "What a lovely post", event.StatusApproved},
		{"rejected", "I hate Orange juice", event.StatusRejected},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pool := newDB(t)
			m := newModerator(t)
			rec := commentCreated(t, uuid.New(), tc.content, 1)
			c := decodeComment(t, rec)

			// Twice in one batch, then redelivered in a later batch.
			if err := apply(t, pool, m, rec, rec); err != nil {
				t.Fatalf("apply twice in one batch: %v", err)
			}
			if err := apply(t, pool, m, rec); err != nil {
				t.Fatalf("apply again: %v", err)
			}

			got := verdicts(t, pool, c.ID)
			if len(got) != 1 {
				t.Fatalf("comment has %d verdicts, want 1: %+v", len(got), got)
			}
			if got[0].status != tc.status || got[0].version != 1 ||
				got[0].postID != c.PostID {
				t.Errorf("verdict = %+v, want %s for version 1 of post %s",
					got[0], tc.status, c.PostID)
			}

			rows := outboxRows(t, pool)
			if len(rows) != 1 {
				t.Fatalf("outbox has %d rows, want 1", len(rows))
			}
			checkModeratedEvent(t, rows[0], c, tc.status)
		})
	}
}

func TestModeratorApply_newVersionJudgedAgain(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	m := newModerator(t)

	first := commentCreated(t, uuid.New(), "nice", 1)
	c1 := decodeComment(t, first)
	c2 := c1
	c2.Version = 2
	c2.Content = "orange after an edit"
	second := commentRecord(t, c2)

	if err := apply(t, pool, m, first, second); err != nil {
		t.Fatalf("apply two versions: %v", err)
	}

	got := verdicts(t, pool, c1.ID)
	if len(got) != 2 {
		t.Fatalf("comment has %d verdicts, want 2: %+v", len(got), got)
	}
	if got[0].status != event.StatusApproved ||
		got[1].status != event.StatusRejected {
		t.Errorf("verdicts = %+v, want version 1 approved, version 2 "+
			"rejected", got)
	}

	rows := outboxRows(t, pool)
	if len(rows) != 2 {
		t.Fatalf("outbox has %d rows, want 2", len(rows))
	}
	checkModeratedEvent(t, rows[0], c1, event.StatusApproved)
	checkModeratedEvent(t, rows[1], c2, event.StatusRejected)
}

func TestModeratorApply_malformedData(t *testing.T) {
	t.Parallel()
	pool := newDB(t)
	m := newModerator(t)

	cases := []struct {
		name string
		data any
	}{
		{"missing id", event.CommentCreated{PostID: uuid.New(),
			Content: "x", Status: event.StatusPending, Version: 1}},
		{"missing post id", event.CommentCreated{ID: uuid.New(),
			Content: "x", Status: event.StatusPending, Version: 1}},
		{"version 0", event.CommentCreated{ID: uuid.New(),
			PostID: uuid.New(), Content: "x", Status: event.StatusPending}},
		{"unknown status", event.CommentCreated{ID: uuid.New(),
			PostID: uuid.New(), Content: "x", Status: "spam", Version: 1}},
		{"content is a number", map[string]any{"id": uuid.New(),
			"post_id": uuid.New(), "content": 5, "status": "pending",
			"version": 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := apply(t, pool, m, commentRecord(t, tc.data))
			if !errors.Is(err, event.ErrMalformed) {
				t.Errorf("err = %v, want one wrapping event.ErrMalformed", err)
			}
		})
	}

	if n := countRows(t, pool, "moderations"); n != 0 {
		t.Errorf("moderations has %d rows, want 0", n)
	}
	if n := countRows(t, pool, "outbox"); n != 0 {
		t.Errorf("outbox has %d rows, want 0", n)
	}
}
