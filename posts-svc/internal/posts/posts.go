// Package posts stores posts and announces each new one as a PostCreated
// event through the outbox.
package posts

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
const Producer = "posts-svc"

// MaxTitleLength is the longest title in Unicode code points.
const MaxTitleLength = event.MaxTitleLength

// Post is a blog post.
type Post struct {
	ID        uuid.UUID `json:"id"`
	Title     string    `json:"title"`
	CreatedAt time.Time `json:"created_at"`
}

// Store keeps posts in PostgreSQL.
type Store struct {
	pool  *pgxpool.Pool
	topic string
}

// NewStore returns a Store that announces posts on topic.
func NewStore(pool *pgxpool.Pool, topic string) (*Store, error) {
	if pool == nil || topic == "" {
		return nil, errors.New("posts store needs a pool and a topic")
	}

	return &Store{pool: pool, topic: topic}, nil
}

// Create stores a post with an already validated title and queues its
// PostCreated event in the same transaction.
func (s *Store) Create(ctx context.Context, title string) (Post, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return Post{}, fmt.Errorf("new post id: %w", err)
	}

	// PostgreSQL keeps microseconds; the event must carry the same instant.
	p := Post{
		ID:        id,
		Title:     title,
		CreatedAt: time.Now().UTC().Truncate(time.Microsecond),
	}

	env, err := event.New(event.TypePostCreated, Producer, event.PostCreated(p))
	if err != nil {
		return Post{}, err
	}

	err = postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx,
			"INSERT INTO posts (id, title, created_at) VALUES ($1, $2, $3)",
			p.ID, p.Title, p.CreatedAt)
		if err != nil {
			return fmt.Errorf("insert post %s: %w", p.ID, err)
		}

		return outbox.Enqueue(ctx, tx, s.topic, p.ID.String(), env)
	})
	if err != nil {
		return Post{}, err
	}

	return p, nil
}

// List returns up to limit posts, newest first.
func (s *Store) List(ctx context.Context, limit int) ([]Post, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, title, created_at FROM posts
		ORDER BY created_at DESC, id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("list posts: %w", err)
	}

	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Post, error) {
		var p Post
		err := row.Scan(&p.ID, &p.Title, &p.CreatedAt)
		p.CreatedAt = p.CreatedAt.UTC()
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("list posts: %w", err)
	}

	return out, nil
}
