// Package event defines the event contract shared by every service: topic
// names, Kafka header names, the JSON envelope and the payload of each event
// type.
package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Topic names of the event log. Every topic keeps its events forever.
const (
	TopicPosts      = "blog.posts"
	TopicComments   = "blog.comments"
	TopicModeration = "blog.moderation"
)

// Kafka header names carried by every event.
const (
	HeaderType        = "event-type"
	HeaderID          = "event-id"
	HeaderContentType = "content-type"
	ContentTypeJSON   = "application/json"
)

// Event types.
const (
	TypePostCreated      = "PostCreated"
	TypeCommentCreated   = "CommentCreated"
	TypeCommentModerated = "CommentModerated"
	TypeCommentUpdated   = "CommentUpdated"
)

// Comment statuses.
const (
	StatusPending  = "pending"
	StatusApproved = "approved"
	StatusRejected = "rejected"
)

// SchemaVersion is the highest envelope schema version this code reads and
// the version it writes.
const SchemaVersion = 1

// Envelope is the JSON value of every Kafka record.
type Envelope struct {
	ID            uuid.UUID       `json:"id"`
	Type          string          `json:"type"`
	SchemaVersion int             `json:"schema_version"`
	OccurredAt    time.Time       `json:"occurred_at"`
	Producer      string          `json:"producer"`
	Data          json.RawMessage `json:"data"`
}

// ErrMalformed is wrapped by every error that Decode and DecodeData return
// for a value that does not follow the contract.
var ErrMalformed = errors.New("malformed event")

// ErrUnsupportedVersion is returned by Decode for an envelope whose
// schema_version is higher than SchemaVersion.
var ErrUnsupportedVersion = errors.New("unsupported schema version")

// New builds an envelope with a time-ordered (v7) id, the current UTC time
// and data encoded as JSON.
func New(eventType, producer string, data any) (Envelope, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return Envelope{}, fmt.Errorf("new event id: %w", err)
	}

	raw, err := marshal(data)
	if err != nil {
		return Envelope{}, fmt.Errorf("encode %s data: %w", eventType, err)
	}

	return Envelope{
		ID:            id,
		Type:          eventType,
		SchemaVersion: SchemaVersion,
		OccurredAt:    time.Now().UTC(),
		Producer:      producer,
		Data:          raw,
	}, nil
}

// Marshal encodes the envelope as JSON without escaping HTML characters, so
// text in the payload keeps its bytes.
func (e Envelope) Marshal() ([]byte, error) {
	return marshal(e)
}

func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}

	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// Decode parses a record value into an envelope and checks the fields every
// event must carry. Unknown envelope fields are ignored so that producers can
// add fields. The error wraps ErrMalformed or ErrUnsupportedVersion.
func Decode(value []byte) (Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(value, &e); err != nil {
		return Envelope{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}

	switch {
	case e.ID == uuid.Nil:
		return Envelope{}, fmt.Errorf("%w: missing id", ErrMalformed)
	case e.Type == "":
		return Envelope{}, fmt.Errorf("%w: missing type", ErrMalformed)
	case e.SchemaVersion < 1:
		return Envelope{}, fmt.Errorf("%w: missing schema_version", ErrMalformed)
	case e.SchemaVersion > SchemaVersion:
		return Envelope{}, fmt.Errorf("%w: %d, this consumer reads up to %d",
			ErrUnsupportedVersion, e.SchemaVersion, SchemaVersion)
	case len(e.Data) == 0 || string(e.Data) == "null":
		return Envelope{}, fmt.Errorf("%w: missing data", ErrMalformed)
	}

	return e, nil
}

// Validator is implemented by every event payload.
type Validator interface {
	Validate() error
}

// DecodeData parses the envelope's data into T and validates it. The error
// wraps ErrMalformed.
func DecodeData[T any, P interface {
	*T
	Validator
}](e Envelope) (T, error) {
	var data T
	if err := json.Unmarshal(e.Data, &data); err != nil {
		return data, fmt.Errorf("%w: %s data: %v", ErrMalformed, e.Type, err)
	}

	if err := P(&data).Validate(); err != nil {
		return data, fmt.Errorf("%w: %s data: %v", ErrMalformed, e.Type, err)
	}

	return data, nil
}
