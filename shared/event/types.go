package event

import (
	"errors"
	"time"

	"github.com/google/uuid"
)

// PostCreated is the data of a PostCreated event on blog.posts.
type PostCreated struct {
	ID        uuid.UUID `json:"id"`
	Title     string    `json:"title"`
	CreatedAt time.Time `json:"created_at"`
}

// Validate checks the fields a consumer relies on.
func (p *PostCreated) Validate() error {
	if p.ID == uuid.Nil {
		return errors.New("missing id")
	}
	if p.Title == "" {
		return errors.New("missing title")
	}

	return nil
}

// CommentCreated is the data of a CommentCreated event on blog.comments.
type CommentCreated struct {
	ID        uuid.UUID `json:"id"`
	PostID    uuid.UUID `json:"post_id"`
	Content   string    `json:"content"`
	Status    string    `json:"status"`
	Version   int       `json:"version"`
	CreatedAt time.Time `json:"created_at"`
}

// Validate checks the fields a consumer relies on.
func (c *CommentCreated) Validate() error {
	return validateComment(c.ID, c.PostID, c.Status, c.Version)
}

// CommentModerated is the data of a CommentModerated event on
// blog.moderation. Version is the comment version that was judged.
type CommentModerated struct {
	ID      uuid.UUID `json:"id"`
	PostID  uuid.UUID `json:"post_id"`
	Status  string    `json:"status"`
	Reason  string    `json:"reason"`
	Version int       `json:"version"`
}

// Validate checks the fields a consumer relies on.
func (c *CommentModerated) Validate() error {
	if c.Status != StatusApproved && c.Status != StatusRejected {
		return errors.New("status must be approved or rejected")
	}

	return validateComment(c.ID, c.PostID, c.Status, c.Version)
}

// CommentUpdated is the data of a CommentUpdated event on blog.comments.
// Version is greater than the version of every earlier event about the
// comment.
type CommentUpdated struct {
	ID      uuid.UUID `json:"id"`
	PostID  uuid.UUID `json:"post_id"`
	Content string    `json:"content"`
	Status  string    `json:"status"`
	Version int       `json:"version"`
}

// Validate checks the fields a consumer relies on.
func (c *CommentUpdated) Validate() error {
	return validateComment(c.ID, c.PostID, c.Status, c.Version)
}

func validateComment(id, postID uuid.UUID, status string, version int) error {
	switch {
	case id == uuid.Nil:
		return errors.New("missing id")
	case postID == uuid.Nil:
		return errors.New("missing post_id")
	case version < 1:
		return errors.New("version must be at least 1")
	}

	switch status {
	case StatusPending, StatusApproved, StatusRejected:
		return nil
	default:
		return errors.New("unknown status " + status)
	}
}
