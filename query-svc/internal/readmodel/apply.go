// Package readmodel builds the query side's posts-with-comments view from
// PostCreated, CommentCreated and CommentUpdated events, and reads it.
package readmodel

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/kafkablog/blog/query-svc/internal/live"
	"github.com/kafkablog/blog/shared/event"
	"github.com/kafkablog/blog/shared/messaging"
)

// copyThreshold is the number of rows from which a batch is written with
// COPY into staging tables instead of one upsert per row. COPY costs a few
// more round trips but far less work per row, so it wins on replays.
const copyThreshold = 64

// insertPosts keeps the first PostCreated of a post; a replay changes
// nothing.
const insertPosts = `
	INSERT INTO posts (id, title, created_at) %s
	ON CONFLICT (id) DO NOTHING`

// upsertComments stores comment versions. Content, status and version
// change only for a higher version, so a replayed or late event changes
// nothing. created_at is taken from whichever event carries it.
const upsertComments = `
	INSERT INTO comments (id, post_id, content, status, version, created_at) %s
	ON CONFLICT (id) DO UPDATE SET
		content = CASE WHEN EXCLUDED.version > comments.version
			THEN EXCLUDED.content ELSE comments.content END,
		status = CASE WHEN EXCLUDED.version > comments.version
			THEN EXCLUDED.status ELSE comments.status END,
		version = GREATEST(comments.version, EXCLUDED.version),
		created_at = COALESCE(comments.created_at, EXCLUDED.created_at)`

type postRow struct {
	id        uuid.UUID
	title     string
	createdAt time.Time
}

type commentRow struct {
	id        uuid.UUID
	postID    uuid.UUID
	content   string
	status    string
	version   int
	createdAt *time.Time
}

// fold is a batch reduced to one row per post and per comment, with the
// result that applying its events one by one would have.
type fold struct {
	posts    []postRow
	comments []commentRow
	postAt   map[uuid.UUID]int
	comAt    map[uuid.UUID]int
}

// Apply applies recs inside tx. The batch is first folded in memory, then
// written with one statement per row in a single round trip, or with COPY
// for large batches. An event whose data breaks the contract fails the
// call with an error that wraps event.ErrMalformed.
func Apply(ctx context.Context, tx pgx.Tx, recs []messaging.Record) error {
	f := fold{postAt: map[uuid.UUID]int{}, comAt: map[uuid.UUID]int{}}
	for _, rec := range recs {
		if err := f.add(rec.Event); err != nil {
			return fmt.Errorf("event %s at %s/%d/%d: %w", rec.Event.ID,
				rec.Topic, rec.Partition, rec.Offset, err)
		}
	}

	if len(f.posts)+len(f.comments) == 0 {
		return nil
	}

	var err error
	if len(f.posts)+len(f.comments) >= copyThreshold {
		err = f.copy(ctx, tx)
	} else {
		err = f.upsert(ctx, tx)
	}
	if err != nil {
		return err
	}

	// PostgreSQL delivers the notification when the transaction commits,
	// once however many batches notified inside it.
	if _, err := tx.Exec(ctx, "SELECT pg_notify($1, '')", live.Channel); err != nil {
		return fmt.Errorf("notify read-model change: %w", err)
	}

	return nil
}

func (f *fold) add(env event.Envelope) error {
	switch env.Type {
	case event.TypePostCreated:
		p, err := event.DecodeData[event.PostCreated](env)
		if err != nil {
			return err
		}
		if _, seen := f.postAt[p.ID]; !seen {
			f.postAt[p.ID] = len(f.posts)
			f.posts = append(f.posts, postRow{p.ID, p.Title, p.CreatedAt})
		}

	case event.TypeCommentCreated:
		c, err := event.DecodeData[event.CommentCreated](env)
		if err != nil {
			return err
		}
		created := c.CreatedAt
		f.addComment(commentRow{c.ID, c.PostID, c.Content, c.Status,
			c.Version, &created})

	case event.TypeCommentUpdated:
		c, err := event.DecodeData[event.CommentUpdated](env)
		if err != nil {
			return err
		}
		f.addComment(commentRow{c.ID, c.PostID, c.Content, c.Status,
			c.Version, nil})
	}

	return nil
}

// addComment merges row the way upsertComments would.
func (f *fold) addComment(row commentRow) {
	i, seen := f.comAt[row.id]
	if !seen {
		f.comAt[row.id] = len(f.comments)
		f.comments = append(f.comments, row)
		return
	}

	old := &f.comments[i]
	if old.createdAt == nil {
		old.createdAt = row.createdAt
	}
	if row.version > old.version {
		old.content, old.status, old.version = row.content, row.status, row.version
	}
}

func (f *fold) upsert(ctx context.Context, tx pgx.Tx) error {
	batch := &pgx.Batch{}
	for _, p := range f.posts {
		batch.Queue(fmt.Sprintf(insertPosts, "VALUES ($1, $2, $3)"),
			p.id, p.title, p.createdAt)
	}
	for _, c := range f.comments {
		batch.Queue(fmt.Sprintf(upsertComments, "VALUES ($1, $2, $3, $4, $5, $6)"),
			c.id, c.postID, c.content, c.status, c.version, c.createdAt)
	}

	if batch.Len() == 0 {
		return nil
	}

	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("apply %d rows: %w", batch.Len(), err)
	}

	return nil
}

// copy writes the rows into temporary staging tables with COPY and merges
// them with one statement per table. The staging tables live for the
// session and are emptied at every commit.
func (f *fold) copy(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `
		CREATE TEMP TABLE IF NOT EXISTS stage_posts
			(LIKE posts) ON COMMIT DELETE ROWS;
		CREATE TEMP TABLE IF NOT EXISTS stage_comments
			(LIKE comments) ON COMMIT DELETE ROWS`)
	if err != nil {
		return fmt.Errorf("create staging tables: %w", err)
	}

	_, err = tx.CopyFrom(ctx, pgx.Identifier{"stage_posts"},
		[]string{"id", "title", "created_at"},
		pgx.CopyFromSlice(len(f.posts), func(i int) ([]any, error) {
			p := f.posts[i]
			return []any{p.id, p.title, p.createdAt}, nil
		}))
	if err != nil {
		return fmt.Errorf("copy %d posts: %w", len(f.posts), err)
	}

	_, err = tx.CopyFrom(ctx, pgx.Identifier{"stage_comments"},
		[]string{"id", "post_id", "content", "status", "version", "created_at"},
		pgx.CopyFromSlice(len(f.comments), func(i int) ([]any, error) {
			c := f.comments[i]
			return []any{c.id, c.postID, c.content, c.status, c.version,
				c.createdAt}, nil
		}))
	if err != nil {
		return fmt.Errorf("copy %d comments: %w", len(f.comments), err)
	}

	batch := &pgx.Batch{}
	batch.Queue(fmt.Sprintf(insertPosts,
		"SELECT id, title, created_at FROM stage_posts"))
	batch.Queue(fmt.Sprintf(upsertComments,
		"SELECT id, post_id, content, status, version, created_at FROM stage_comments"))
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("merge staged rows: %w", err)
	}

	return nil
}
