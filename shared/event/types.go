package event

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Limits on the text an event carries, in Unicode code points. They match
// what the HTTP API accepts, so only a forged or corrupt event exceeds
// them, and every consumer rejects it alike.
const (
	MaxTitleLength   = 200
	MaxContentLength = 2000
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

	return validateText("title", p.Title, MaxTitleLength)
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
	if err := validateComment(c.ID, c.PostID, c.Status, c.Version); err != nil {
		return err
	}

	return validateText("content", c.Content, MaxContentLength)
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
	if err := validateComment(c.ID, c.PostID, c.Status, c.Version); err != nil {
		return err
	}

	return validateText("content", c.Content, MaxContentLength)
}

// validateText rejects text that the HTTP API would never have accepted
// and that PostgreSQL cannot store: invalid UTF-8, a NUL character, or
// more than max code points.
func validateText(field, text string, max int) error {
	switch {
	case !utf8.ValidString(text):
		return fmt.Errorf("%s is not valid UTF-8", field)
	case strings.ContainsRune(text, 0):
		return fmt.Errorf("%s contains a NUL character", field)
	}

	if n := utf8.RuneCountInString(text); n > max {
		return fmt.Errorf("%s is %d characters long; the maximum is %d",
			field, n, max)
	}

	return nil
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
