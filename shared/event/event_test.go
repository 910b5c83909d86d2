package event_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kafkablog/blog/shared/event"
)

const validID = "0193a7c2-5b1e-7c3d-8e4f-123456789abc"

// envelopeJSON returns an envelope encoded as JSON with fields replaced or,
// for a nil value, removed.
func envelopeJSON(t testing.TB, changes map[string]any) []byte {
	t.Helper()

	fields := map[string]any{
		"id":             validID,
		"type":           event.TypePostCreated,
		"schema_version": 1,
		"occurred_at":    "2026-12-04T10:00:00.123456Z",
		"producer":       "posts-svc",
		"data": map[string]any{
			"id":         "0193a7c2-0000-7000-8000-000000000001",
			"title":      "Hello",
			"created_at": "2026-12-04T10:00:00Z",
		},
	}
	for k, v := range changes {
		if v == nil {
			delete(fields, k)
			continue
		}
		fields[k] = v
	}

	raw, err := json.Marshal(fields)
	if err != nil {
		t.Fatalf("encode test envelope: %v", err)
	}

	return raw
}

func TestDecode_valid(t *testing.T) {
	t.Parallel()

	env, err := event.Decode(envelopeJSON(t, nil))
	if err != nil {
		t.Fatalf("Decode returned %v, want nil", err)
	}

	if env.ID.String() != validID {
		t.Errorf("ID = %s, want %s", env.ID, validID)
	}
	if env.Type != event.TypePostCreated {
		t.Errorf("Type = %q, want %q", env.Type, event.TypePostCreated)
	}
	if env.SchemaVersion != 1 {
		t.Errorf("SchemaVersion = %d, want 1", env.SchemaVersion)
	}
	wantTime := time.Date(2026, 12, 4, 10, 0, 0, 123456000, time.UTC)
	if !env.OccurredAt.Equal(wantTime) {
		t.Errorf("OccurredAt = %s, want %s", env.OccurredAt, wantTime)
	}
	if env.Producer != "posts-svc" {
		t.Errorf("Producer = %q, want posts-svc", env.Producer)
	}
	if !bytes.Contains(env.Data, []byte(`"title":"Hello"`)) {
		t.Errorf("Data = %s, want the raw data object with its title", env.Data)
	}
}

func TestDecode_unknownFieldIgnored(t *testing.T) {
	t.Parallel()

	raw := envelopeJSON(t, map[string]any{"trace_id": "abc"})
	if _, err := event.Decode(raw); err != nil {
		t.Fatalf("Decode returned %v, want nil for an extra envelope field", err)
	}
}

func TestDecode_invalid(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name  string
		value []byte
		want  error
	}{
		{"malformed JSON", []byte(`{"id":`), event.ErrMalformed},
		{"not JSON", []byte("hello"), event.ErrMalformed},
		{"empty value", []byte(""), event.ErrMalformed},
		{"JSON array", []byte(`[1,2]`), event.ErrMalformed},
		{"JSON null", []byte(`null`), event.ErrMalformed},
		{"missing id", envelopeJSON(t, map[string]any{"id": nil}),
			event.ErrMalformed},
		{"nil id", envelopeJSON(t, map[string]any{"id": uuid.Nil.String()}),
			event.ErrMalformed},
		{"id not a UUID", envelopeJSON(t, map[string]any{"id": "post-1"}),
			event.ErrMalformed},
		{"missing type", envelopeJSON(t, map[string]any{"type": nil}),
			event.ErrMalformed},
		{"empty type", envelopeJSON(t, map[string]any{"type": ""}),
			event.ErrMalformed},
		{"missing data", envelopeJSON(t, map[string]any{"data": nil}),
			event.ErrMalformed},
		{"null data", []byte(`{"id":"` + validID + `","type":"PostCreated",` +
			`"schema_version":1,"data":null}`), event.ErrMalformed},
		{"missing schema_version",
			envelopeJSON(t, map[string]any{"schema_version": nil}),
			event.ErrMalformed},
		{"schema_version 0",
			envelopeJSON(t, map[string]any{"schema_version": 0}),
			event.ErrMalformed},
		{"schema_version 2",
			envelopeJSON(t, map[string]any{"schema_version": 2}),
			event.ErrUnsupportedVersion},
		{"schema_version 99",
			envelopeJSON(t, map[string]any{"schema_version": 99}),
			event.ErrUnsupportedVersion},
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()

			_, err := event.Decode(tc.value)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Decode(%s) error = %v, want it to wrap %v",
					tc.value, err, tc.want)
			}

			other := event.ErrUnsupportedVersion
			if tc.want == event.ErrUnsupportedVersion {
				other = event.ErrMalformed
			}
			if errors.Is(err, other) {
				t.Errorf("Decode(%s) error = %v, want it not to wrap %v",
					tc.value, err, other)
			}
		})
	}
}

func TestDecode_versionErrorNamesVersions(t *testing.T) {
	t.Parallel()

	raw := envelopeJSON(t, map[string]any{"schema_version": 2})
	_, err := event.Decode(raw)
	if err == nil {
		t.Fatal("Decode returned nil, want an unsupported version error")
	}

	if !strings.Contains(err.Error(), "2") {
		t.Errorf("error %q does not name the received version 2", err)
	}
	if !strings.Contains(err.Error(), "up to 1") {
		t.Errorf("error %q does not name the supported version 1", err)
	}
}

// decodeWith returns a decoder for the event type T, so one table can
// cover every payload type.
func decodeWith[T any, P interface {
	*T
	event.Validator
}]() func(event.Envelope) error {
	return func(env event.Envelope) error {
		_, err := event.DecodeData[T, P](env)
		return err
	}
}

func TestDecodeData_invalid(t *testing.T) {
	t.Parallel()

	const (
		id     = `"0193a7c2-0000-7000-8000-000000000001"`
		postID = `"0193a7c2-0000-7000-8000-000000000002"`
	)
	post := decodeWith[event.PostCreated]()
	created := decodeWith[event.CommentCreated]()
	moderated := decodeWith[event.CommentModerated]()
	updated := decodeWith[event.CommentUpdated]()

	tests := []struct {
		name      string
		eventType string
		data      string
		decode    func(event.Envelope) error
		wantText  string
	}{
		{"post data not an object", event.TypePostCreated, `"title"`,
			post, "cannot unmarshal"},
		{"post title wrong type", event.TypePostCreated,
			`{"id":` + id + `,"title":5}`, post, "cannot unmarshal"},
		{"post id not a UUID", event.TypePostCreated,
			`{"id":"p1","title":"x"}`, post, "invalid UUID"},
		{"post missing id", event.TypePostCreated, `{"title":"x"}`,
			post, "missing id"},
		{"post missing title", event.TypePostCreated, `{"id":` + id + `}`,
			post, "missing title"},
		{"post title too long", event.TypePostCreated,
			`{"id":` + id + `,"title":"` + strings.Repeat("é", 201) + `"}`,
			post, "title is 201 characters long; the maximum is 200"},
		{"post title with NUL", event.TypePostCreated,
			`{"id":` + id + `,"title":"a\u0000b"}`, post,
			"title contains a NUL character"},
		{"comment content too long", event.TypeCommentCreated,
			`{"id":` + id + `,"post_id":` + postID + `,"status":"pending",` +
				`"version":1,"content":"` + strings.Repeat("x", 2001) + `"}`,
			created, "content is 2001 characters long; the maximum is 2000"},
		{"update content with NUL", event.TypeCommentUpdated,
			`{"id":` + id + `,"post_id":` + postID + `,"status":"approved",` +
				`"version":2,"content":"\u0000"}`,
			updated, "content contains a NUL character"},
		{"comment missing id", event.TypeCommentCreated,
			`{"post_id":` + postID + `,"status":"pending","version":1}`,
			created, "missing id"},
		{"comment missing post_id", event.TypeCommentCreated,
			`{"id":` + id + `,"status":"pending","version":1}`,
			created, "missing post_id"},
		{"comment version 0", event.TypeCommentCreated,
			`{"id":` + id + `,"post_id":` + postID + `,"status":"pending"}`,
			created, "version must be at least 1"},
		{"comment unknown status", event.TypeCommentCreated,
			`{"id":` + id + `,"post_id":` + postID +
				`,"status":"hidden","version":1}`,
			created, "unknown status hidden"},
		{"moderation status pending", event.TypeCommentModerated,
			`{"id":` + id + `,"post_id":` + postID +
				`,"status":"pending","version":1}`,
			moderated, "approved or rejected"},
		{"moderation missing post_id", event.TypeCommentModerated,
			`{"id":` + id + `,"status":"approved","version":1}`,
			moderated, "missing post_id"},
		{"update version negative", event.TypeCommentUpdated,
			`{"id":` + id + `,"post_id":` + postID +
				`,"status":"approved","version":-1}`,
			updated, "version must be at least 1"},
		{"update missing status", event.TypeCommentUpdated,
			`{"id":` + id + `,"post_id":` + postID + `,"version":2}`,
			updated, "unknown status"},
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()

			env := event.Envelope{Type: tc.eventType, Data: []byte(tc.data)}
			err := tc.decode(env)
			if !errors.Is(err, event.ErrMalformed) {
				t.Fatalf("DecodeData(%s) error = %v, want it to wrap %v",
					tc.data, err, event.ErrMalformed)
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error %q does not contain %q", err, tc.wantText)
			}
			if !strings.Contains(err.Error(), tc.eventType) {
				t.Errorf("error %q does not name the event type %s",
					err, tc.eventType)
			}
		})
	}
}

func TestDecodeData_valid(t *testing.T) {
	t.Parallel()

	id := uuid.MustParse("0193a7c2-0000-7000-8000-000000000001")
	postID := uuid.MustParse("0193a7c2-0000-7000-8000-000000000002")
	data := event.CommentModerated{
		ID:      id,
		PostID:  postID,
		Status:  event.StatusRejected,
		Reason:  "contains a banned word",
		Version: 3,
	}
	env, err := event.New(event.TypeCommentModerated, "moderation-svc", data)
	if err != nil {
		t.Fatalf("New returned %v, want nil", err)
	}

	got, err := event.DecodeData[event.CommentModerated](env)
	if err != nil {
		t.Fatalf("DecodeData returned %v, want nil", err)
	}
	if got != data {
		t.Errorf("DecodeData = %+v, want %+v", got, data)
	}
}

func TestNew_fields(t *testing.T) {
	t.Parallel()

	before := time.Now()
	env, err := event.New(event.TypePostCreated, "posts-svc",
		map[string]string{"title": "x"})
	if err != nil {
		t.Fatalf("New returned %v, want nil", err)
	}

	if env.ID.Version() != 7 {
		t.Errorf("ID version = %d, want 7 (time ordered)", env.ID.Version())
	}
	if env.SchemaVersion != event.SchemaVersion {
		t.Errorf("SchemaVersion = %d, want %d", env.SchemaVersion,
			event.SchemaVersion)
	}
	if env.OccurredAt.Location() != time.UTC {
		t.Errorf("OccurredAt location = %s, want UTC", env.OccurredAt.Location())
	}
	if env.OccurredAt.Before(before.Add(-time.Second)) {
		t.Errorf("OccurredAt = %s, want about now (%s)", env.OccurredAt, before)
	}
	if string(env.Data) != `{"title":"x"}` {
		t.Errorf("Data = %s, want {\"title\":\"x\"}", env.Data)
	}
}

func TestMarshal_keepsTextBytes(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		text string
	}{
		{"HTML characters", `<script>alert("a & b")</script> 1 < 2 > 0`},
		{"Arabic right to left", "مرحبا بالعالم، هذا تعليق"},
		{"Hebrew with Latin", "שלום world עולם"},
		{"emoji", "launch 🚀 party 🎉 family 👨‍👩‍👧"},
		{"combining marks", "e\u0301 n\u0303 decomposed"},
		{"line separators", "a\u2028b\u2029c"},
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()

			data := event.CommentCreated{
				ID:      uuid.New(),
				PostID:  uuid.New(),
				Content: tc.text,
				Status:  event.StatusPending,
				Version: 1,
			}
			env, err := event.New(event.TypeCommentCreated, "comments-svc", data)
			if err != nil {
				t.Fatalf("New returned %v, want nil", err)
			}

			raw, err := env.Marshal()
			if err != nil {
				t.Fatalf("Marshal returned %v, want nil", err)
			}
			assertRawText(t, raw, tc.text)

			decoded, err := event.Decode(raw)
			if err != nil {
				t.Fatalf("Decode of marshalled envelope returned %v", err)
			}
			got, err := event.DecodeData[event.CommentCreated](decoded)
			if err != nil {
				t.Fatalf("DecodeData of marshalled envelope returned %v", err)
			}
			if got.Content != tc.text {
				t.Errorf("round trip Content = %q, want %q", got.Content, tc.text)
			}
		})
	}
}

// assertRawText checks that text appears in raw unescaped, except for the
// characters JSON itself requires to be escaped.
func assertRawText(t testing.TB, raw []byte, text string) {
	t.Helper()

	want := strings.ReplaceAll(text, `"`, `\"`)
	if strings.ContainsAny(text, "\u2028\u2029") {
		// encoding/json escapes U+2028 and U+2029 even with
		// SetEscapeHTML(false).
		want = strings.NewReplacer("\u2028", `\u2028`, "\u2029", `\u2029`).
			Replace(want)
	}
	if !bytes.Contains(raw, []byte(want)) {
		t.Errorf("Marshal output %s does not contain %q byte for byte", raw, want)
	}

	for _, escaped := range []string{`\u003c`, `\u003e`, `\u0026`} {
		if bytes.Contains(raw, []byte(escaped)) {
			t.Errorf("Marshal output %s contains %s, want HTML characters "+
				"unescaped", raw, escaped)
		}
	}
	if bytes.HasSuffix(raw, []byte("\n")) {
		t.Errorf("Marshal output ends with a newline, want none")
	}
}

func TestNewTopics_prefix(t *testing.T) {
	t.Parallel()

	tests := []struct {
		prefix string
		want   event.Topics
	}{
		{"", event.Topics{
			Posts:      "blog.posts",
			Comments:   "blog.comments",
			Moderation: "blog.moderation",
		}},
		{"t1.", event.Topics{
			Posts:      "t1.blog.posts",
			Comments:   "t1.blog.comments",
			Moderation: "t1.blog.moderation",
		}},
	}

	for _, tc := range tests {
		t.Run("prefix "+tc.prefix, func(t *testing.T) {
			t.Parallel()

			if got := event.NewTopics(tc.prefix); got != tc.want {
				t.Errorf("NewTopics(%q) = %+v, want %+v", tc.prefix, got, tc.want)
			}
		})
	}
}

func TestDeadLetter_name(t *testing.T) {
	t.Parallel()

	if got := event.DeadLetter("t1.blog.posts"); got != "t1.blog.posts.dlq" {
		t.Errorf("DeadLetter = %q, want t1.blog.posts.dlq", got)
	}
}
