// Package readmodel builds the query side's posts-with-comments view from
// PostCreated, CommentCreated and CommentUpdated events, and reads it.
package readmodel

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/kafkablog/blog/shared/event"
	"github.com/kafkablog/blog/shared/messaging"
)

// insertPost keeps the first PostCreated of a post; a replay changes
// nothing.
const insertPost = `
	INSERT INTO posts (id, title, created_at) VALUES ($1, $2, $3)
	ON CONFLICT (id) DO NOTHING`

// upsertComment stores a comment version. Content, status and version
// change only for a higher version, so a replayed or late event changes
// nothing. created_at is taken from whichever event carries it.
const upsertComment = `
	INSERT INTO comments (id, post_id, content, status, version, created_at)
	VALUES ($1, $2, $3, $4, $5, $6)
	ON CONFLICT (id) DO UPDATE SET
		content = CASE WHEN EXCLUDED.version > comments.version
			THEN EXCLUDED.content ELSE comments.content END,
		status = CASE WHEN EXCLUDED.version > comments.version
			THEN EXCLUDED.status ELSE comments.status END,
		version = GREATEST(comments.version, EXCLUDED.version),
		created_at = COALESCE(comments.created_at, EXCLUDED.created_at)`

// Apply applies recs inside tx with one round trip: every statement is
// queued in a pgx batch and sent together. An event whose data breaks the
// contract fails the call with an error that wraps event.ErrMalformed.
func Apply(ctx context.Context, tx pgx.Tx, recs []messaging.Record) error {
	batch := &pgx.Batch{}
	for _, rec := range recs {
		if err := queue(batch, rec.Event); err != nil {
			return fmt.Errorf("event %s at %s/%d/%d: %w", rec.Event.ID,
				rec.Topic, rec.Partition, rec.Offset, err)
		}
	}

	if batch.Len() == 0 {
		return nil
	}

	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("apply %d events: %w", batch.Len(), err)
	}

	return nil
}

func queue(batch *pgx.Batch, env event.Envelope) error {
	switch env.Type {
	case event.TypePostCreated:
		p, err := event.DecodeData[event.PostCreated](env)
		if err != nil {
			return err
		}
		batch.Queue(insertPost, p.ID, p.Title, p.CreatedAt)

	case event.TypeCommentCreated:
		c, err := event.DecodeData[event.CommentCreated](env)
		if err != nil {
			return err
		}
		batch.Queue(upsertComment, c.ID, c.PostID, c.Content, c.Status,
			c.Version, c.CreatedAt)

	case event.TypeCommentUpdated:
		c, err := event.DecodeData[event.CommentUpdated](env)
		if err != nil {
			return err
		}
		batch.Queue(upsertComment, c.ID, c.PostID, c.Content, c.Status,
			c.Version, nil)
	}

	return nil
}
