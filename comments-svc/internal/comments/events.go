package comments

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"

	"github.com/kafkablog/blog/shared/event"
	"github.com/kafkablog/blog/shared/messaging"
	"github.com/kafkablog/blog/shared/outbox"
)

// Apply handles PostCreated and CommentModerated events inside tx. Both
// are idempotent: a known post is inserted once, and a verdict changes a
// comment only while the comment is pending at the judged version.
func (s *Store) Apply(ctx context.Context, tx pgx.Tx, rec messaging.Record) error {
	switch rec.Event.Type {
	case event.TypePostCreated:
		return applyPostCreated(ctx, tx, rec.Event)
	case event.TypeCommentModerated:
		return s.applyModerated(ctx, tx, rec.Event)
	default:
		return nil
	}
}

func applyPostCreated(ctx context.Context, tx pgx.Tx, env event.Envelope) error {
	p, err := event.DecodeData[event.PostCreated](env)
	if err != nil {
		return err
	}

	_, err = tx.Exec(ctx,
		"INSERT INTO known_posts (id) VALUES ($1) ON CONFLICT (id) DO NOTHING",
		p.ID)
	if err != nil {
		return fmt.Errorf("insert known post %s: %w", p.ID, err)
	}

	return nil
}

// applyModerated sets the verdict's status, raises the version and queues
// a CommentUpdated event carrying the new version. A repeated or stale
// verdict matches no row and changes nothing.
func (s *Store) applyModerated(ctx context.Context, tx pgx.Tx, env event.Envelope) error {
	m, err := event.DecodeData[event.CommentModerated](env)
	if err != nil {
		return err
	}

	var u event.CommentUpdated
	err = tx.QueryRow(ctx, `
		UPDATE comments SET status = $2, version = version + 1
		WHERE id = $1 AND version = $3 AND status = 'pending'
		RETURNING id, post_id, content, status, version`,
		m.ID, m.Status, m.Version).
		Scan(&u.ID, &u.PostID, &u.Content, &u.Status, &u.Version)
	if err == pgx.ErrNoRows {
		slog.DebugContext(ctx, "verdict changes nothing",
			"comment_id", m.ID, "version", m.Version)
		return nil
	}
	if err != nil {
		return fmt.Errorf("apply verdict to comment %s: %w", m.ID, err)
	}

	out, err := event.New(event.TypeCommentUpdated, Producer, u)
	if err != nil {
		return err
	}

	return outbox.Enqueue(ctx, tx, s.topic, u.PostID.String(), out)
}
