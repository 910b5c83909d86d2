package readmodel

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrNotFound is returned for a post the read model does not have.
var ErrNotFound = errors.New("post not found")

// Post is a post with its comments, as GET /posts returns it.
type Post struct {
	ID        uuid.UUID `json:"id"`
	Title     string    `json:"title"`
	CreatedAt time.Time `json:"created_at"`
	Comments  []Comment `json:"comments"`
}

// Comment is a comment with its moderation status.
type Comment struct {
	ID      uuid.UUID `json:"id"`
	Content string    `json:"content"`
	Status  string    `json:"status"`
}

// Reader reads the read model.
type Reader struct {
	pool *pgxpool.Pool
}

// NewReader returns a Reader on pool.
func NewReader(pool *pgxpool.Pool) *Reader {
	return &Reader{pool: pool}
}

// List returns up to limit posts, newest first, with their comments oldest
// first. With a non-nil before, it returns the posts that come after that
// post in this order, and ErrNotFound if the read model lacks it.
func (r *Reader) List(ctx context.Context, limit int, before *uuid.UUID) ([]Post, error) {
	var rows pgx.Rows
	var err error
	if before == nil {
		rows, err = r.pool.Query(ctx, `
			SELECT id, title, created_at FROM posts
			ORDER BY created_at DESC, id DESC LIMIT $1`, limit)
	} else {
		rows, err = r.pool.Query(ctx, `
			SELECT p.id, p.title, p.created_at
			FROM posts p, posts c
			WHERE c.id = $2 AND (p.created_at, p.id) < (c.created_at, c.id)
			ORDER BY p.created_at DESC, p.id DESC LIMIT $1`, limit, *before)
	}
	if err != nil {
		return nil, fmt.Errorf("list posts: %w", err)
	}

	posts, err := pgx.CollectRows(rows, scanPost)
	if err != nil {
		return nil, fmt.Errorf("list posts: %w", err)
	}

	if before != nil && len(posts) == 0 {
		if _, err := r.Get(ctx, *before); err != nil {
			return nil, err
		}
	}

	return posts, r.attachComments(ctx, posts)
}

// Get returns one post with its comments, or ErrNotFound.
func (r *Reader) Get(ctx context.Context, id uuid.UUID) (Post, error) {
	rows, err := r.pool.Query(ctx,
		"SELECT id, title, created_at FROM posts WHERE id = $1", id)
	if err != nil {
		return Post{}, fmt.Errorf("get post %s: %w", id, err)
	}

	p, err := pgx.CollectExactlyOneRow(rows, scanPost)
	if errors.Is(err, pgx.ErrNoRows) {
		return Post{}, ErrNotFound
	}
	if err != nil {
		return Post{}, fmt.Errorf("get post %s: %w", id, err)
	}

	posts := []Post{p}
	if err := r.attachComments(ctx, posts); err != nil {
		return Post{}, err
	}

	return posts[0], nil
}

func scanPost(row pgx.CollectableRow) (Post, error) {
	var p Post
	err := row.Scan(&p.ID, &p.Title, &p.CreatedAt)
	p.CreatedAt = p.CreatedAt.UTC()
	p.Comments = []Comment{}

	return p, err
}

// attachComments loads the comments of posts in one query.
func (r *Reader) attachComments(ctx context.Context, posts []Post) error {
	if len(posts) == 0 {
		return nil
	}

	ids := make([]uuid.UUID, len(posts))
	index := make(map[uuid.UUID]int, len(posts))
	for i, p := range posts {
		ids[i] = p.ID
		index[p.ID] = i
	}

	rows, err := r.pool.Query(ctx, `
		SELECT post_id, id, content, status FROM comments
		WHERE post_id = ANY($1)
		ORDER BY post_id, created_at NULLS LAST, id`, ids)
	if err != nil {
		return fmt.Errorf("list comments: %w", err)
	}
	defer rows.Close()

	for rows.Next() {
		var postID uuid.UUID
		var c Comment
		if err := rows.Scan(&postID, &c.ID, &c.Content, &c.Status); err != nil {
			return fmt.Errorf("scan comment: %w", err)
		}

		i := index[postID]
		posts[i].Comments = append(posts[i].Comments, c)
	}

	return rows.Err()
}
