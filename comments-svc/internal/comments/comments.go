// Package comments stores comments, keeps the set of posts they may belong
// to, and applies moderation verdicts. Every change is announced through
// the outbox.
package comments

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kafkablog/blog/shared/event"
	"github.com/kafkablog/blog/shared/outbox"
	"github.com/kafkablog/blog/shared/postgres"
)

// Producer is the producer name written into every event envelope.
const Producer = "comments-svc"

// MaxContentLength is the longest comment in Unicode code points.
const MaxContentLength = event.MaxContentLength

// ErrUnknownPost is returned by Create for a post id that no PostCreated
// event has announced.
var ErrUnknownPost = errors.New("unknown post")

// Comment is a comment on a post.
type Comment struct {
	ID        uuid.UUID `json:"id"`
	PostID    uuid.UUID `json:"post_id"`
	Content   string    `json:"content"`
	Status    string    `json:"status"`
	Version   int       `json:"-"`
	CreatedAt time.Time `json:"-"`
}

// Store keeps comments and known posts in PostgreSQL.
type Store struct {
	pool  *pgxpool.Pool
	topic string
}

// NewStore returns a Store that announces comment changes on topic.
func NewStore(pool *pgxpool.Pool, topic string) (*Store, error) {
	if pool == nil || topic == "" {
		return nil, errors.New("comments store needs a pool and a topic")
	}

	return &Store{pool: pool, topic: topic}, nil
}

// PostExists reports whether a PostCreated event for id has been applied.
func (s *Store) PostExists(ctx context.Context, id uuid.UUID) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx,
		"SELECT EXISTS (SELECT 1 FROM known_posts WHERE id = $1)", id).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("look up post %s: %w", id, err)
	}

	return ok, nil
}

// Create stores a pending comment with already validated content and
// queues its CommentCreated event in the same transaction. It returns
// ErrUnknownPost if the post is not known.
func (s *Store) Create(ctx context.Context, postID uuid.UUID, content string) (Comment, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return Comment{}, fmt.Errorf("new comment id: %w", err)
	}

	c := Comment{
		ID:        id,
		PostID:    postID,
		Content:   content,
		Status:    event.StatusPending,
		Version:   1,
		CreatedAt: time.Now().UTC().Truncate(time.Microsecond),
	}

	env, err := event.New(event.TypeCommentCreated, Producer, event.CommentCreated{
		ID:        c.ID,
		PostID:    c.PostID,
		Content:   c.Content,
		Status:    c.Status,
		Version:   c.Version,
		CreatedAt: c.CreatedAt,
	})
	if err != nil {
		return Comment{}, err
	}

	err = postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			INSERT INTO comments (id, post_id, content, status, version, created_at)
			SELECT $1, $2, $3, $4, $5, $6
			WHERE EXISTS (SELECT 1 FROM known_posts WHERE id = $2)`,
			c.ID, c.PostID, c.Content, c.Status, c.Version, c.CreatedAt)
		if err != nil {
			return fmt.Errorf("insert comment %s: %w", c.ID, err)
		}

		if tag.RowsAffected() == 0 {
			return ErrUnknownPost
		}

		return outbox.Enqueue(ctx, tx, s.topic, c.PostID.String(), env)
	})
	if err != nil {
		return Comment{}, err
	}

	return c, nil
}

// List returns the comments of a post, oldest first.
func (s *Store) List(ctx context.Context, postID uuid.UUID) ([]Comment, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, post_id, content, status, version, created_at
		FROM comments WHERE post_id = $1 ORDER BY created_at, id`, postID)
	if err != nil {
		return nil, fmt.Errorf("list comments of post %s: %w", postID, err)
	}

	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Comment, error) {
		var c Comment
		err := row.Scan(&c.ID, &c.PostID, &c.Content, &c.Status, &c.Version,
			&c.CreatedAt)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("list comments of post %s: %w", postID, err)
	}

	return list, nil
}
