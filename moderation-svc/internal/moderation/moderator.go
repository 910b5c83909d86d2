package moderation

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/kafkablog/blog/shared/event"
	"github.com/kafkablog/blog/shared/messaging"
	"github.com/kafkablog/blog/shared/outbox"
)

// Producer is the producer name written into every event envelope.
const Producer = "moderation-svc"

// Moderator judges CommentCreated events and queues a CommentModerated
// event for each comment version it has not judged before.
type Moderator struct {
	policy *Policy
	topic  string
}

// NewModerator returns a Moderator that publishes verdicts on topic.
func NewModerator(policy *Policy, topic string) *Moderator {
	return &Moderator{policy: policy, topic: topic}
}

// Apply judges one CommentCreated event inside tx. A version already
// judged is left alone, so a redelivered event queues nothing.
func (m *Moderator) Apply(ctx context.Context, tx pgx.Tx, rec messaging.Record) error {
	c, err := event.DecodeData[event.CommentCreated](rec.Event)
	if err != nil {
		return err
	}

	v := m.policy.Judge(c.Content)
	tag, err := tx.Exec(ctx, `
		INSERT INTO moderations (comment_id, version, post_id, status, reason)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (comment_id, version) DO NOTHING`,
		c.ID, c.Version, c.PostID, v.Status, v.Reason)
	if err != nil {
		return fmt.Errorf("insert verdict for comment %s: %w", c.ID, err)
	}

	if tag.RowsAffected() == 0 {
		return nil
	}

	env, err := event.New(event.TypeCommentModerated, Producer,
		event.CommentModerated{
			ID:      c.ID,
			PostID:  c.PostID,
			Status:  v.Status,
			Reason:  v.Reason,
			Version: c.Version,
		})
	if err != nil {
		return err
	}

	return outbox.Enqueue(ctx, tx, m.topic, c.PostID.String(), env)
}
