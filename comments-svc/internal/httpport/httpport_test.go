package httpport_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kafkablog/blog/comments-svc/internal/comments"
	"github.com/kafkablog/blog/comments-svc/internal/dbtest"
	"github.com/kafkablog/blog/comments-svc/internal/httpport"
	"github.com/kafkablog/blog/shared/event"
	"github.com/kafkablog/blog/shared/httpapi"
	"github.com/kafkablog/blog/shared/messaging"
	"github.com/kafkablog/blog/shared/postgres"
)

const jsonType = "application/json"

// server is the real router with the comments routes and the real store on
// a fresh database.
type server struct {
	url   string
	pool  *pgxpool.Pool
	store *comments.Store
	// catchUps counts the calls of the catch-up function.
	catchUps *atomic.Int32
}

// catchUpFunc returns the catch-up function of a server on pool and store.
type catchUpFunc func(pool *pgxpool.Pool, store *comments.Store) httpport.CatchUp

// newServer serves the routes with the catch-up function from newCatchUp,
// counted in catchUps, and a wait of 2 s for it.
func newServer(t *testing.T, newCatchUp catchUpFunc) server {
	t.Helper()

	pool := dbtest.New(t)
	store, err := comments.NewStore(pool, event.TopicComments)
	if err != nil {
		t.Fatalf("new store: %v", err)
	}

	catchUp := newCatchUp(pool, store)
	calls := &atomic.Int32{}
	counted := func(ctx context.Context) error {
		calls.Add(1)
		return catchUp(ctx)
	}

	router := httpapi.NewRouter()
	httpport.Register(router, store, counted, 2*time.Second)
	srv := httptest.NewServer(router)
	t.Cleanup(srv.Close)

	return server{url: srv.URL, pool: pool, store: store, catchUps: calls}
}

// caughtUp returns the catch-up function of a consumer that is always at
// the end of the log.
func caughtUp(*pgxpool.Pool, *comments.Store) httpport.CatchUp {
	return func(context.Context) error { return nil }
}

// addPost applies a PostCreated for a new post, as the posts consumer
// does, and returns the post id.
func addPost(t testing.TB, pool *pgxpool.Pool, store *comments.Store) uuid.UUID {
	t.Helper()

	id := uuid.New()
	env, err := event.New(event.TypePostCreated, "test",
		event.PostCreated{ID: id, Title: "A post", CreatedAt: time.Now()})
	if err != nil {
		t.Fatalf("new PostCreated: %v", err)
	}

	ctx := context.Background()
	err = postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
		return store.Apply(ctx, tx, messaging.Record{Event: env})
	})
	if err != nil {
		t.Fatalf("apply PostCreated: %v", err)
	}

	return id
}

func commentsURL(base, postID string) string {
	return base + "/posts/" + postID + "/comments"
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// client never follows a redirect, so a test gets the router's response.
var client = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// send makes one request. An empty contentType sends no Content-Type.
func send(
	t testing.TB,
	method, url, contentType string,
	body []byte,
) response {
	t.Helper()

	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("build request %s %s: %v", method, url, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}

	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()

	out, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read response of %s %s: %v", method, url, err)
	}

	return response{status: res.StatusCode, header: res.Header, body: out}
}

// decodeStrict decodes data into v and fails on fields v does not have.
func decodeStrict(t testing.TB, data []byte, v any) {
	t.Helper()

	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %s into %T: %v", data, v, err)
	}
}

// checkError checks the status and that the body is exactly
// {"error": {"code": code, "message": "…"}} with a non-blank message.
func checkError(t testing.TB, res response, status int, code string) {
	t.Helper()

	if res.status != status {
		t.Errorf("status = %d, want %d; body %s", res.status, status, res.body)
	}

	if ct := res.header.Get("Content-Type"); ct != jsonType {
		t.Errorf("Content-Type = %q, want %q", ct, jsonType)
	}

	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	decodeStrict(t, res.body, &body)

	if body.Error.Code != code {
		t.Errorf("error code = %q, want %q; body %s", body.Error.Code, code,
			res.body)
	}

	if strings.TrimSpace(body.Error.Message) == "" {
		t.Errorf("error message is blank; body %s", res.body)
	}
}

// checkNothingStored fails unless the database has no comment and no
// outbox row.
func checkNothingStored(t testing.TB, pool *pgxpool.Pool) {
	t.Helper()

	if n := dbtest.Count(t, pool, "comments"); n != 0 {
		t.Errorf("comments has %d rows, want 0", n)
	}

	if n := dbtest.Count(t, pool, "outbox"); n != 0 {
		t.Errorf("outbox has %d rows, want 0", n)
	}
}

// jsonText returns s as a JSON string without its quotes, escaping only
// what JSON requires: quotes, backslashes and control characters.
func jsonText(s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		panic(err)
	}
	quoted := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))

	return quoted[1 : len(quoted)-1]
}

func contentBody(content string) []byte {
	body, err := json.Marshal(map[string]string{"content": content})
	if err != nil {
		panic(err)
	}

	return body
}

// repeatRunes returns text of n code points made of ASCII letters, emoji
// (4 bytes each) and accented letters (2 bytes each), so a byte count and a
// code point count disagree.
func repeatRunes(n int) string {
	pattern := []rune("a😀é")
	out := make([]rune, n)
	for i := range out {
		out[i] = pattern[i%len(pattern)]
	}

	return string(out)
}

// malformedIDs are post ids that are not a UUID in its 36-character form.
var malformedIDs = []struct {
	name string
	id   string
}{
	{"word", "not-a-uuid"},
	{"35 characters", "0193a7c2-5b1e-7c3d-8e4f-123456789ab"},
	{"37 characters", "0193a7c2-5b1e-7c3d-8e4f-123456789abcd"},
	{"no hyphens", "0193a7c25b1e7c3d8e4f123456789abc"},
	{"braces", "{0193a7c2-5b1e-7c3d-8e4f-123456789abc}"},
	{"urn", "urn:uuid:0193a7c2-5b1e-7c3d-8e4f-123456789abc"},
	{"not hex", "0193a7c2-5b1e-7c3d-8e4f-123456789xyz"},
}

type badRequest struct {
	name        string
	contentType string
	body        []byte
	status      int
	code        string
}

func badCreateRequests() []badRequest {
	tooLarge := `{"content": "` + strings.Repeat("a", httpapi.MaxBodyBytes) +
		`"}`

	return []badRequest{
		{"malformed JSON", jsonType, []byte(`{"content": "a"`),
			400, "malformed_json"},
		{"syntax error", jsonType, []byte(`{content: "a"}`),
			400, "malformed_json"},
		{"empty body", jsonType, nil, 400, "malformed_json"},
		{"string instead of object", jsonType, []byte(`"a comment"`),
			400, "malformed_json"},
		{"two objects", jsonType,
			[]byte(`{"content": "a"} {"content": "b"}`),
			400, "malformed_json"},
		{"unknown field", jsonType,
			[]byte(`{"content": "a", "status": "approved"}`),
			400, "unknown_field"},
		{"missing content", jsonType, []byte(`{}`), 400, "missing_field"},
		{"null content", jsonType, []byte(`{"content": null}`),
			400, "missing_field"},
		{"object content", jsonType, []byte(`{"content": {"text": "a"}}`),
			400, "invalid_field"},
		{"empty content", jsonType, []byte(`{"content": ""}`),
			400, "missing_field"},
		{"white space content", jsonType,
			[]byte(`{"content": " \t\r\n\u00a0\u2003 "}`),
			400, "missing_field"},
		{"2001 code points", jsonType, contentBody(repeatRunes(2001)),
			400, "field_too_long"},
		{"2001 code points inside white space", jsonType,
			contentBody("\t" + repeatRunes(2001) + "  "),
			400, "field_too_long"},
		{"NUL character", jsonType, []byte(`{"content": "a\u0000b"}`),
			400, "invalid_field"},
		{"Latin-1 byte", jsonType, []byte("{\"content\": \"caf\xe9\"}"),
			400, "invalid_utf8"},
		{"lone continuation byte", jsonType,
			[]byte("{\"content\": \"a\x80b\"}"), 400, "invalid_utf8"},
		{"text/plain", "text/plain", contentBody("a"),
			415, "unsupported_media_type"},
		{"no content type", "", contentBody("a"),
			415, "unsupported_media_type"},
		{"form content type", "application/x-www-form-urlencoded",
			[]byte("content=a"), 415, "unsupported_media_type"},
		{"body over 16 KiB", jsonType, []byte(tooLarge),
			413, "body_too_large"},
		// encoding/json keeps the last duplicate, which let "clean dup"
		// be stored in place of a banned word that moderation never saw.
		{"duplicate content", jsonType,
			[]byte(`{"content":"orange","content":"clean dup"}`),
			400, "duplicate_field"},
		{"duplicate content spelt with an escape", jsonType,
			[]byte(`{"content":"orange","c\u006fntent":"clean dup"}`),
			400, "duplicate_field"},
		{"upper-case key", jsonType, []byte(`{"CONTENT":"x"}`),
			400, "unknown_field"},
		{"capitalised key", jsonType, []byte(`{"Content":"x"}`),
			400, "unknown_field"},
		{"content and Content", jsonType,
			[]byte(`{"content":"orange","Content":"clean"}`),
			400, "unknown_field"},
	}
}

func TestCreateComment_badInput(t *testing.T) {
	t.Parallel()
	srv := newServer(t, caughtUp)
	postID := addPost(t, srv.pool, srv.store)

	for _, tc := range badCreateRequests() {
		t.Run(tc.name, func(t *testing.T) {
			res := send(t, http.MethodPost,
				commentsURL(srv.url, postID.String()), tc.contentType, tc.body)

			checkError(t, res, tc.status, tc.code)
			checkNothingStored(t, srv.pool)
		})
	}

	if n := srv.catchUps.Load(); n != 0 {
		t.Errorf("catch-up ran %d times for a known post, want 0", n)
	}
}

func TestCommentRoutes_malformedPostID(t *testing.T) {
	t.Parallel()
	srv := newServer(t, caughtUp)

	for _, tc := range malformedIDs {
		for _, method := range []string{http.MethodPost, http.MethodGet} {
			t.Run(method+" "+tc.name, func(t *testing.T) {
				res := send(t, method, commentsURL(srv.url, tc.id), jsonType,
					contentBody("Hello"))

				checkError(t, res, http.StatusBadRequest, "invalid_id")
				checkNothingStored(t, srv.pool)
			})
		}
	}
}

func TestCommentRoutes_unknownPost(t *testing.T) {
	t.Parallel()
	srv := newServer(t, caughtUp)
	addPost(t, srv.pool, srv.store)

	for _, method := range []string{http.MethodPost, http.MethodGet} {
		t.Run(method, func(t *testing.T) {
			before := srv.catchUps.Load()

			res := send(t, method, commentsURL(srv.url, uuid.NewString()),
				jsonType, contentBody("Hello"))

			checkError(t, res, http.StatusNotFound, "not_found")
			checkNothingStored(t, srv.pool)
			if srv.catchUps.Load() == before {
				t.Error("the handler answered 404 without waiting for the " +
					"posts consumer to catch up")
			}
		})
	}
}

func TestCommentRoutes_wrongMethod(t *testing.T) {
	t.Parallel()
	srv := newServer(t, caughtUp)
	postID := addPost(t, srv.pool, srv.store)

	for _, id := range []string{postID.String(), "not-a-uuid"} {
		for _, method := range []string{
			http.MethodPut, http.MethodDelete, http.MethodPatch,
		} {
			t.Run(method+" "+id, func(t *testing.T) {
				res := send(t, method, commentsURL(srv.url, id), jsonType,
					contentBody("Hello"))

				checkError(t, res, http.StatusMethodNotAllowed,
					"method_not_allowed")
				checkNothingStored(t, srv.pool)
			})
		}
	}
}

type createdComment struct {
	ID      uuid.UUID `json:"id"`
	PostID  uuid.UUID `json:"post_id"`
	Content string    `json:"content"`
	Status  string    `json:"status"`
}

// checkCreated checks a 201 response for want on postID, the stored row and
// its one CommentCreated outbox row, and returns the comment.
func checkCreated(
	t testing.TB,
	pool *pgxpool.Pool,
	res response,
	postID uuid.UUID,
	want string,
) createdComment {
	t.Helper()

	if res.status != http.StatusCreated {
		t.Fatalf("status = %d, want 201; body %s", res.status, res.body)
	}

	if !bytes.Contains(res.body, jsonText(want)) {
		t.Errorf("body %s does not contain the content as %s", res.body,
			jsonText(want))
	}

	var got createdComment
	decodeStrict(t, res.body, &got)
	if got.Content != want {
		t.Errorf("content = %q, want %q", got.Content, want)
	}
	if got.PostID != postID || got.ID == uuid.Nil {
		t.Errorf("id %s post_id %s, want a new id on post %s", got.ID,
			got.PostID, postID)
	}
	if got.Status != event.StatusPending {
		t.Errorf("status = %q, want pending", got.Status)
	}

	var stored string
	err := pool.QueryRow(context.Background(),
		"SELECT content FROM comments WHERE id = $1 AND post_id = $2",
		got.ID, postID).Scan(&stored)
	if err != nil {
		t.Fatalf("select comment %s: %v", got.ID, err)
	}
	if stored != want {
		t.Errorf("stored content = %q, want %q", stored, want)
	}

	checkCommentCreatedEvent(t, pool, got)

	return got
}

func checkCommentCreatedEvent(t testing.TB, pool *pgxpool.Pool, c createdComment) {
	t.Helper()

	rows := dbtest.Outbox(t, pool, c.PostID.String())
	if len(rows) != 1 {
		t.Fatalf("outbox has %d rows with key %s, want 1", len(rows), c.PostID)
	}

	row := rows[0]
	if row.Topic != event.TopicComments {
		t.Errorf("outbox topic = %q, want %q", row.Topic, event.TopicComments)
	}
	if row.EventType != event.TypeCommentCreated {
		t.Errorf("outbox event type = %q, want %q", row.EventType,
			event.TypeCommentCreated)
	}
	if !bytes.Contains(row.Payload, jsonText(c.Content)) {
		t.Errorf("payload %s does not contain the content as %s",
			row.Payload, jsonText(c.Content))
	}

	env, err := event.Decode(row.Payload)
	if err != nil {
		t.Fatalf("decode outbox payload: %v", err)
	}
	if env.ID != row.EventID || env.Producer != comments.Producer {
		t.Errorf("envelope id %s producer %q, want id %s producer %q",
			env.ID, env.Producer, row.EventID, comments.Producer)
	}

	data, err := event.DecodeData[event.CommentCreated](env)
	if err != nil {
		t.Fatalf("decode CommentCreated data: %v", err)
	}
	if data.ID != c.ID || data.PostID != c.PostID ||
		data.Content != c.Content || data.Status != event.StatusPending ||
		data.Version != 1 || data.CreatedAt.IsZero() {
		t.Errorf("event data = %+v, want %+v with version 1", data, c)
	}
}

func TestCreateComment_storesTrimmedText(t *testing.T) {
	t.Parallel()
	srv := newServer(t, caughtUp)

	cases := []struct {
		name    string
		content string
		want    string
	}{
		{"plain", "Hello", "Hello"},
		{"surrounding white space", " \t\u00a0Spaced out\u2003\r\n ",
			"Spaced out"},
		{"inner white space kept", "line one\n\n  line two",
			"line one\n\n  line two"},
		{"right to left", "תגובה נהדרת و شكرا لك", "תגובה נהדרת و شكرا لك"},
		{"emoji sequences", "Love it 👩‍💻🔥 🇯🇵", "Love it 👩‍💻🔥 🇯🇵"},
		{"script tag stays literal",
			`<script>alert(document.cookie)</script> & <b>bold</b>`,
			`<script>alert(document.cookie)</script> & <b>bold</b>`},
		{"quotes and backslashes", `say "hi" \o/`, `say "hi" \o/`},
		{"decomposed accent not normalised", "nai\u0308ve", "nai\u0308ve"},
		{"2000 code points", repeatRunes(2000), repeatRunes(2000)},
		{"2000 code points inside white space",
			"\n " + repeatRunes(2000) + " \n", repeatRunes(2000)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			postID := addPost(t, srv.pool, srv.store)

			res := send(t, http.MethodPost,
				commentsURL(srv.url, postID.String()), jsonType,
				contentBody(tc.content))

			checkCreated(t, srv.pool, res, postID, tc.want)
		})
	}
}

func TestListComments_oldestFirst(t *testing.T) {
	t.Parallel()
	srv := newServer(t, caughtUp)
	postID := addPost(t, srv.pool, srv.store)
	url := commentsURL(srv.url, postID.String())

	res := send(t, http.MethodGet, url, "", nil)
	if res.status != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", res.status, res.body)
	}
	if got := strings.TrimSpace(string(res.body)); got != "[]" {
		t.Errorf("body for a post without comments = %s, want []", got)
	}

	contents := []string{"first <b>", "second 🎉", "third שלום"}
	var created []createdComment
	for _, content := range contents {
		res := send(t, http.MethodPost, url, jsonType, contentBody(content))
		if res.status != http.StatusCreated {
			t.Fatalf("create %q: status %d; body %s", content, res.status,
				res.body)
		}

		var c createdComment
		decodeStrict(t, res.body, &c)
		created = append(created, c)
	}

	res = send(t, http.MethodGet, url, "", nil)
	if res.status != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", res.status, res.body)
	}

	var list []struct {
		ID      uuid.UUID `json:"id"`
		Content string    `json:"content"`
		Status  string    `json:"status"`
	}
	decodeStrict(t, res.body, &list)
	if len(list) != len(created) {
		t.Fatalf("got %d comments, want %d: %s", len(list), len(created),
			res.body)
	}
	for i, c := range list {
		if c.ID != created[i].ID || c.Content != contents[i] ||
			c.Status != event.StatusPending {
			t.Errorf("comment %d = %+v, want id %s content %q pending", i, c,
				created[i].ID, contents[i])
		}
	}
}

// TestCreateComment_postArrivesDuringCatchUp covers a comment sent before
// the posts consumer has applied its PostCreated: the handler waits for the
// catch-up, in which the post arrives, and then accepts the comment.
func TestCreateComment_postArrivesDuringCatchUp(t *testing.T) {
	t.Parallel()

	postID := uuid.New()
	srv := newServer(t, func(
		pool *pgxpool.Pool,
		store *comments.Store,
	) httpport.CatchUp {
		return func(ctx context.Context) error {
			env, err := event.New(event.TypePostCreated, "test",
				event.PostCreated{ID: postID, Title: "Late",
					CreatedAt: time.Now()})
			if err != nil {
				return err
			}

			return postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
				return store.Apply(ctx, tx, messaging.Record{Event: env})
			})
		}
	})

	res := send(t, http.MethodPost, commentsURL(srv.url, postID.String()),
		jsonType, contentBody("Just in time"))

	checkCreated(t, srv.pool, res, postID, "Just in time")
	if n := srv.catchUps.Load(); n != 1 {
		t.Errorf("catch-up ran %d times, want 1", n)
	}
}

// TestCreateComment_catchUpTimesOut covers a posts consumer that does not
// catch up: the handler gives up after its wait and returns 404.
func TestCreateComment_catchUpTimesOut(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(*pgxpool.Pool, *comments.Store) httpport.CatchUp {
		return func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		}
	})

	start := time.Now()
	res := send(t, http.MethodPost, commentsURL(srv.url, uuid.NewString()),
		jsonType, contentBody("Too early"))
	elapsed := time.Since(start)

	checkError(t, res, http.StatusNotFound, "not_found")
	checkNothingStored(t, srv.pool)
	if elapsed < 2*time.Second {
		t.Errorf("answered after %s, before the 2 s wait ended", elapsed)
	}
	if elapsed > 10*time.Second {
		t.Errorf("answered after %s, long after the 2 s wait", elapsed)
	}
}

// TestCreateComment_postPublishedAfterCatchUp covers a post whose event
// is not in Kafka yet when the comment arrives, because the outbox relay
// of posts-svc has not sent it. The first catch-ups find nothing, and the
// handler keeps looking because the post id was minted a moment ago.
func TestCreateComment_postPublishedAfterCatchUp(t *testing.T) {
	t.Parallel()

	postID, err := uuid.NewV7()
	if err != nil {
		t.Fatalf("new post id: %v", err)
	}

	var calls atomic.Int32
	srv := newServer(t, func(
		pool *pgxpool.Pool,
		store *comments.Store,
	) httpport.CatchUp {
		return func(ctx context.Context) error {
			if calls.Add(1) < 3 {
				return nil
			}

			env, err := event.New(event.TypePostCreated, "test",
				event.PostCreated{ID: postID, Title: "Relayed late",
					CreatedAt: time.Now()})
			if err != nil {
				return err
			}

			return postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
				return store.Apply(ctx, tx, messaging.Record{Event: env})
			})
		}
	})

	res := send(t, http.MethodPost, commentsURL(srv.url, postID.String()),
		jsonType, contentBody("Worth the wait"))

	checkCreated(t, srv.pool, res, postID, "Worth the wait")
	if n := calls.Load(); n < 3 {
		t.Errorf("catch-up ran %d times, want at least 3", n)
	}
}

// TestCreateComment_oldUnknownPostAnswersAtOnce covers an unknown post
// whose UUIDv7 id was minted long ago: after one catch-up the handler
// returns 404 without waiting out POST_WAIT_TIMEOUT.
func TestCreateComment_oldUnknownPostAnswersAtOnce(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(*pgxpool.Pool, *comments.Store) httpport.CatchUp {
		return func(context.Context) error { return nil }
	})

	old := uuid.Must(uuid.Parse("01890a5d-ac96-774b-bcce-b302099a8057"))
	start := time.Now()
	res := send(t, http.MethodPost, commentsURL(srv.url, old.String()),
		jsonType, contentBody("Too late"))
	elapsed := time.Since(start)

	checkError(t, res, http.StatusNotFound, "not_found")
	checkNothingStored(t, srv.pool)
	if elapsed >= 2*time.Second {
		t.Errorf("answered after %s, want before the 2 s wait ends", elapsed)
	}
	if n := srv.catchUps.Load(); n != 1 {
		t.Errorf("catch-up ran %d times, want 1", n)
	}
}

// TestCommentRoutes_pathTricks sends a valid comment to paths that mux
// used to clean and redirect with an empty 301, or match after decoding,
// so that POST /posts/<id>%2Fcomments created a comment. Each
// gets the JSON 404, or 400 invalid_id where the id segment is malformed,
// and stores nothing.
func TestCommentRoutes_pathTricks(t *testing.T) {
	t.Parallel()
	srv := newServer(t, caughtUp)
	id := addPost(t, srv.pool, srv.store).String()

	cases := []struct {
		path   string
		status int
		code   string
	}{
		{"/posts/" + id + "%2Fcomments", 404, "not_found"},
		{"/posts/" + id + "%2fcomments", 404, "not_found"},
		{"/posts/" + id + "/comments/", 404, "not_found"},
		{"/posts/" + id + "/comments/.", 404, "not_found"},
		{"/posts/" + id + "/./comments", 404, "not_found"},
		{"/posts/" + id + "/%2e/comments", 404, "not_found"},
		{"/posts/x/../" + id + "/comments", 404, "not_found"},
		{"/posts/" + id + "/../" + id + "/comments", 404, "not_found"},
		{"//posts/" + id + "/comments", 404, "not_found"},
		{"/posts//" + id + "/comments", 404, "not_found"},
		{"/posts//comments", 404, "not_found"},
		{"/posts/../posts/create", 404, "not_found"},
		{"/posts/" + id + "%2Fcomments%2F..%2F..%2F" + id + "/comments",
			400, "invalid_id"},
		{"/posts/a%2Fb/comments", 400, "invalid_id"},
		{"/posts/%2e%2e/comments", 400, "invalid_id"},
		{"/posts/../comments", 400, "invalid_id"},
		{"/posts/./comments", 400, "invalid_id"},
		{"/posts/" + id + "%00/comments", 400, "invalid_id"},
	}
	for _, tc := range cases {
		for _, method := range []string{http.MethodPost, http.MethodGet} {
			t.Run(method+" "+tc.path, func(t *testing.T) {
				res := send(t, method, srv.url+tc.path, jsonType,
					contentBody("Hello"))

				checkError(t, res, tc.status, tc.code)
				if loc := res.header.Get("Location"); loc != "" {
					t.Errorf("Location = %q, want no redirect", loc)
				}
				checkNothingStored(t, srv.pool)
			})
		}
	}
}

// TestCreateComment_encodedIDDecoded checks that the router, which
// matches the encoded path, still hands the handler the decoded post id.
func TestCreateComment_encodedIDDecoded(t *testing.T) {
	t.Parallel()
	srv := newServer(t, caughtUp)
	postID := addPost(t, srv.pool, srv.store)
	id := postID.String()

	encoded := fmt.Sprintf("%%%02X%s", id[0], id[1:8]) + "%2D" + id[9:]
	res := send(t, http.MethodPost, commentsURL(srv.url, encoded), jsonType,
		contentBody("Encoded id"))
	checkCreated(t, srv.pool, res, postID, "Encoded id")

	res = send(t, http.MethodGet,
		commentsURL(srv.url, strings.ToUpper(id)), "", nil)
	if res.status != http.StatusOK {
		t.Fatalf("GET with an upper-case id: status %d; body %s",
			res.status, res.body)
	}
}

// TestCommentRoutes_longIDNotEchoed sends a 500 KB post id: the error
// quotes a short prefix and gives the length instead of echoing it all.
func TestCommentRoutes_longIDNotEchoed(t *testing.T) {
	t.Parallel()
	srv := newServer(t, caughtUp)

	long := strings.Repeat("a", 500_000)
	for _, method := range []string{http.MethodPost, http.MethodGet} {
		t.Run(method, func(t *testing.T) {
			res := send(t, method, commentsURL(srv.url, long), jsonType,
				contentBody("Hello"))

			checkError(t, res, http.StatusBadRequest, "invalid_id")
			if len(res.body) > 512 {
				t.Errorf("error body is %d bytes, want at most 512",
					len(res.body))
			}
			if !bytes.Contains(res.body, []byte("500000 bytes")) {
				t.Errorf("body %s does not give the id's length", res.body)
			}
			checkNothingStored(t, srv.pool)
		})
	}
}

func TestCommentRoutes_head(t *testing.T) {
	t.Parallel()
	srv := newServer(t, caughtUp)
	id := addPost(t, srv.pool, srv.store).String()

	cases := []struct {
		path   string
		status int
	}{
		{"/posts/" + id + "/comments", http.StatusOK},
		{"/posts/not-a-uuid/comments", http.StatusBadRequest},
		{"/posts/" + id + "%2Fcomments", http.StatusNotFound},
		{"/healthz", http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			res := send(t, http.MethodHead, srv.url+tc.path, "", nil)

			if res.status != tc.status {
				t.Errorf("status = %d, want %d", res.status, tc.status)
			}
			if ct := res.header.Get("Content-Type"); ct != jsonType {
				t.Errorf("Content-Type = %q, want %q", ct, jsonType)
			}
			if len(res.body) != 0 {
				t.Errorf("body = %q, want none for HEAD", res.body)
			}
			checkNothingStored(t, srv.pool)
		})
	}
}

type requestKey struct{}

// requestContext returns the context of the HTTP request that ctx was
// made from, which the test server puts into every request's values.
func requestContext(ctx context.Context) context.Context {
	req, _ := ctx.Value(requestKey{}).(context.Context)
	return req
}

// awaitGone waits until the client of the request behind ctx has gone
// away.
func awaitGone(ctx context.Context) error {
	req := requestContext(ctx)
	if req == nil {
		return errors.New("the context lost the request's values")
	}

	select {
	case <-req.Done():
		return nil
	case <-time.After(5 * time.Second):
		return errors.New("the client never went away")
	}
}

// gatedStore records the state of the context each Create got. With gate
// set it holds each Create until the client of its request has gone away,
// so the write always runs after the disconnect.
type gatedStore struct {
	*comments.Store
	gate     bool
	mu       sync.Mutex
	ctxErr   error
	deadline time.Duration
}

func (g *gatedStore) Create(
	ctx context.Context,
	postID uuid.UUID,
	content string,
) (comments.Comment, error) {
	if g.gate {
		if err := awaitGone(ctx); err != nil {
			return comments.Comment{}, err
		}
	}

	g.mu.Lock()
	g.ctxErr = ctx.Err()
	if d, ok := ctx.Deadline(); ok {
		g.deadline = time.Until(d)
	}
	g.mu.Unlock()

	return g.Store.Create(ctx, postID, content)
}

// logRecorder is a slog.Handler that keeps every record.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, r)
	return nil
}

func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }

func (l *logRecorder) WithGroup(string) slog.Handler { return l }

// levels returns each record as its level and message, and the highest
// level.
func (l *logRecorder) levels() (all []string, highest slog.Level) {
	l.mu.Lock()
	defer l.mu.Unlock()

	highest = slog.LevelDebug
	for _, r := range l.records {
		all = append(all, r.Level.String()+" "+r.Message)
		highest = max(highest, r.Level)
	}

	return all, highest
}

// TestCreateComment_clientGoesAway sends a valid comment on a raw
// connection, then closes the sending side or the whole connection before
// the store write starts, or (for a post not consumed yet) while the
// handler waits for its post. The comment is stored once with its event, a
// client that is still reading gets 201, and nothing is logged above INFO.
// Not parallel: it replaces the default logger.
func TestCreateComment_clientGoesAway(t *testing.T) {
	cases := []struct {
		name      string
		halfClose bool
		postLate  bool
	}{
		{"half-close", true, false},
		{"close", false, false},
		{"half-close while waiting for the post", true, true},
		{"close while waiting for the post", false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			logs := &logRecorder{}
			old := slog.Default()
			slog.SetDefault(slog.New(logs))
			t.Cleanup(func() { slog.SetDefault(old) })

			pool := dbtest.New(t)
			inner, err := comments.NewStore(pool, event.TopicComments)
			if err != nil {
				t.Fatalf("new store: %v", err)
			}
			// A post that comes late is looked for with a first write
			// while the client is there. The client then leaves during
			// the wait for the post.
			store := &gatedStore{Store: inner, gate: !tc.postLate}

			postID := uuid.New()
			catchUp := func(ctx context.Context) error { return nil }
			if tc.postLate {
				// The post arrives only after the client has gone.
				catchUp = func(ctx context.Context) error {
					if err := awaitGone(ctx); err != nil {
						return err
					}
					env, err := event.New(event.TypePostCreated, "test",
						event.PostCreated{ID: postID, Title: "Late",
							CreatedAt: time.Now()})
					if err != nil {
						return err
					}
					return postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
						return inner.Apply(ctx, tx,
							messaging.Record{Event: env})
					})
				}
			} else {
				postID = addPost(t, pool, inner)
			}

			router := httpapi.NewRouter()
			httpport.Register(router, store, catchUp, 2*time.Second)
			served := make(chan struct{}, 1)
			srv := httptest.NewServer(http.HandlerFunc(
				func(w http.ResponseWriter, r *http.Request) {
					ctx := context.WithValue(r.Context(), requestKey{},
						r.Context())
					router.ServeHTTP(w, r.WithContext(ctx))
					served <- struct{}{}
				}))
			t.Cleanup(srv.Close)

			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer conn.Close()

			body := contentBody("Sent and gone")
			_, err = fmt.Fprintf(conn, "POST /posts/%s/comments HTTP/1.1\r\n"+
				"Host: posts.com\r\nContent-Type: application/json\r\n"+
				"Content-Length: %d\r\n\r\n%s", postID, len(body), body)
			if err != nil {
				t.Fatalf("write request: %v", err)
			}

			if tc.halfClose {
				if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
					t.Fatalf("close the sending side: %v", err)
				}
				conn.SetReadDeadline(time.Now().Add(20 * time.Second))
				res, err := http.ReadResponse(bufio.NewReader(conn), nil)
				if err != nil {
					t.Fatalf("read response: %v", err)
				}
				out, err := io.ReadAll(res.Body)
				if err != nil {
					t.Fatalf("read response body: %v", err)
				}
				checkCreated(t, pool, response{status: res.StatusCode,
					header: res.Header, body: out}, postID, "Sent and gone")
			} else {
				conn.Close()
			}

			select {
			case <-served:
			case <-time.After(20 * time.Second):
				t.Fatal("the handler did not finish")
			}

			if n := dbtest.Count(t, pool, "comments"); n != 1 {
				t.Errorf("comments has %d rows, want 1", n)
			}
			if n := dbtest.Count(t, pool, "outbox"); n != 1 {
				t.Errorf("outbox has %d rows, want 1", n)
			}

			store.mu.Lock()
			if store.ctxErr != nil {
				t.Errorf("the write's context was done: %v", store.ctxErr)
			}
			limit := 2*time.Second + httpapi.WriteTimeout
			if store.deadline <= 0 || store.deadline > limit {
				t.Errorf("the write's deadline was %s away, want within %s",
					store.deadline, limit)
			}
			store.mu.Unlock()

			all, highest := logs.levels()
			if highest > slog.LevelInfo {
				t.Errorf("logged above INFO: %q", all)
			}
		})
	}
}
