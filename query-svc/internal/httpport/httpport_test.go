package httpport_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kafkablog/blog/query-svc/internal/dbtest"
	"github.com/kafkablog/blog/query-svc/internal/httpport"
	"github.com/kafkablog/blog/query-svc/internal/readmodel"
	"github.com/kafkablog/blog/shared/event"
	"github.com/kafkablog/blog/shared/httpapi"
	"github.com/kafkablog/blog/shared/messaging"
	"github.com/kafkablog/blog/shared/postgres"
)

const jsonType = "application/json"

var base = time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)

// server is the real router with the query routes and the real reader on
// a fresh database.
type server struct {
	url  string
	pool *pgxpool.Pool
}

func newServer(t *testing.T) server {
	t.Helper()

	pool := dbtest.New(t)
	router := httpapi.NewRouter()
	httpport.Register(router, readmodel.NewReader(pool), nil)
	srv := httptest.NewServer(router)
	t.Cleanup(srv.Close)

	return server{url: srv.URL, pool: pool}
}

// apply stores events in the read model as the consumer does.
func apply(t testing.TB, pool *pgxpool.Pool, events ...any) {
	t.Helper()

	var recs []messaging.Record
	for _, data := range events {
		var eventType string
		switch data.(type) {
		case event.PostCreated:
			eventType = event.TypePostCreated
		case event.CommentCreated:
			eventType = event.TypeCommentCreated
		case event.CommentUpdated:
			eventType = event.TypeCommentUpdated
		default:
			t.Fatalf("apply: no event type for %T", data)
		}

		env, err := event.New(eventType, "test", data)
		if err != nil {
			t.Fatalf("new %s: %v", eventType, err)
		}
		recs = append(recs, messaging.Record{Event: env})
	}

	ctx := context.Background()
	err := postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
		return readmodel.Apply(ctx, tx, recs)
	})
	if err != nil {
		t.Fatalf("apply %d events: %v", len(recs), err)
	}
}

type response struct {
	status int
	header http.Header
	body   []byte
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

	res, err := http.DefaultClient.Do(req)
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

type comment struct {
	ID      uuid.UUID `json:"id"`
	Content string    `json:"content"`
	Status  string    `json:"status"`
}

type post struct {
	ID        uuid.UUID `json:"id"`
	Title     string    `json:"title"`
	CreatedAt time.Time `json:"created_at"`
	Comments  []comment `json:"comments"`
}

func postIDs(posts []post) []uuid.UUID {
	out := make([]uuid.UUID, len(posts))
	for i, p := range posts {
		out[i] = p.ID
	}

	return out
}

// seed stores three posts a minute apart, the oldest with two comments,
// and returns their ids oldest first.
func seed(t testing.TB, pool *pgxpool.Pool) []uuid.UUID {
	t.Helper()

	ids := []uuid.UUID{uuid.New(), uuid.New(), uuid.New()}
	apply(t, pool,
		event.PostCreated{ID: ids[0], Title: "First <script>alert(1)</script>",
			CreatedAt: base},
		event.PostCreated{ID: ids[1], Title: "שלום עולם",
			CreatedAt: base.Add(time.Minute)},
		event.PostCreated{ID: ids[2], Title: "Third 🎉",
			CreatedAt: base.Add(2 * time.Minute)},
		event.CommentCreated{ID: uuid.New(), PostID: ids[0],
			Content: "older & <b>bold</b>", Status: event.StatusPending,
			Version: 1, CreatedAt: base.Add(time.Second)},
		event.CommentCreated{ID: uuid.New(), PostID: ids[0],
			Content: "newer", Status: event.StatusPending, Version: 1,
			CreatedAt: base.Add(2 * time.Second)})

	return ids
}

// rowCounts returns the row counts of every table the service writes.
func rowCounts(t testing.TB, pool *pgxpool.Pool) [3]int {
	t.Helper()

	return [3]int{
		dbtest.Count(t, pool, "posts"),
		dbtest.Count(t, pool, "comments"),
		dbtest.Count(t, pool, "outbox"),
	}
}

func TestQueryRoutes_badInput(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	seed(t, srv.pool)
	before := rowCounts(t, srv.pool)

	cases := []struct {
		name   string
		path   string
		status int
		code   string
	}{
		{"limit 0", "/posts?limit=0", 400, "invalid_limit"},
		{"limit 501", "/posts?limit=501", 400, "invalid_limit"},
		{"negative limit", "/posts?limit=-5", 400, "invalid_limit"},
		{"limit not a number", "/posts?limit=ten", 400, "invalid_limit"},
		{"cursor not a UUID", "/posts?before=not-a-uuid", 400, "invalid_id"},
		{"cursor of 35 characters",
			"/posts?before=0193a7c2-5b1e-7c3d-8e4f-123456789ab",
			400, "invalid_id"},
		{"cursor without hyphens",
			"/posts?before=0193a7c25b1e7c3d8e4f123456789abc",
			400, "invalid_id"},
		{"unknown cursor", "/posts?before=" + uuid.NewString(),
			400, "invalid_cursor"},
		{"post id not a UUID", "/posts/not-a-uuid", 400, "invalid_id"},
		{"post id of 35 characters",
			"/posts/0193a7c2-5b1e-7c3d-8e4f-123456789ab", 400, "invalid_id"},
		{"post id in braces",
			"/posts/%7B0193a7c2-5b1e-7c3d-8e4f-123456789abc%7D",
			400, "invalid_id"},
		{"unknown post", "/posts/" + uuid.NewString(), 404, "not_found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := send(t, http.MethodGet, srv.url+tc.path, "", nil)

			checkError(t, res, tc.status, tc.code)
			if got := rowCounts(t, srv.pool); got != before {
				t.Errorf("row counts = %v, want %v", got, before)
			}
		})
	}
}

func TestQueryRoutes_wrongMethod(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	ids := seed(t, srv.pool)
	before := rowCounts(t, srv.pool)

	body := []byte(`{"title": "Not here"}`)
	for _, path := range []string{"/posts", "/posts/" + ids[0].String()} {
		for _, method := range []string{
			http.MethodPost, http.MethodPut, http.MethodDelete,
			http.MethodPatch,
		} {
			t.Run(method+" "+path, func(t *testing.T) {
				res := send(t, method, srv.url+path, jsonType, body)

				checkError(t, res, http.StatusMethodNotAllowed,
					"method_not_allowed")
				if got := rowCounts(t, srv.pool); got != before {
					t.Errorf("row counts = %v, want %v", got, before)
				}
			})
		}
	}
}

func TestListPosts_emptyReadModel(t *testing.T) {
	t.Parallel()
	srv := newServer(t)

	res := send(t, http.MethodGet, srv.url+"/posts", "", nil)
	if res.status != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", res.status, res.body)
	}
	if got := strings.TrimSpace(string(res.body)); got != "[]" {
		t.Errorf("body = %s, want []", got)
	}
}

func TestListPosts_newestFirstWithText(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	ids := seed(t, srv.pool)

	res := send(t, http.MethodGet, srv.url+"/posts", "", nil)
	if res.status != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", res.status, res.body)
	}

	// Stored text comes back unescaped, and a post without comments has
	// an empty array, not null.
	for _, raw := range []string{
		`"title":"First <script>alert(1)</script>"`,
		`"content":"older & <b>bold</b>"`,
		`"title":"שלום עולם"`,
		`"title":"Third 🎉","created_at":"2026-12-04T10:02:00Z","comments":[]`,
	} {
		if !bytes.Contains(res.body, []byte(raw)) {
			t.Errorf("body does not contain %s: %s", raw, res.body)
		}
	}

	var list []post
	decodeStrict(t, res.body, &list)
	want := []uuid.UUID{ids[2], ids[1], ids[0]}
	if !slices.Equal(postIDs(list), want) {
		t.Fatalf("order = %v, want %v", postIDs(list), want)
	}

	oldest := list[2]
	if len(oldest.Comments) != 2 || oldest.Comments[0].Content !=
		"older & <b>bold</b>" || oldest.Comments[1].Content != "newer" {
		t.Errorf("comments of the oldest post = %+v, want older, then newer",
			oldest.Comments)
	}
	if !oldest.CreatedAt.Equal(base) {
		t.Errorf("created_at = %s, want %s", oldest.CreatedAt, base)
	}
}

func TestListPosts_pagesWithCursor(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	ids := seed(t, srv.pool)

	want := []uuid.UUID{ids[2], ids[1], ids[0]}
	var seen []uuid.UUID
	path := "/posts?limit=2"
	for page := 0; page <= len(want); page++ {
		res := send(t, http.MethodGet, srv.url+path, "", nil)
		if res.status != http.StatusOK {
			t.Fatalf("GET %s: status %d; body %s", path, res.status, res.body)
		}

		var list []post
		decodeStrict(t, res.body, &list)
		if len(list) == 0 {
			if got := strings.TrimSpace(string(res.body)); got != "[]" {
				t.Errorf("last page = %s, want []", got)
			}
			break
		}

		seen = append(seen, postIDs(list)...)
		path = "/posts?limit=2&before=" + list[len(list)-1].ID.String()
	}

	if !slices.Equal(seen, want) {
		t.Errorf("posts across pages = %v, want %v", seen, want)
	}
}

func TestGetPost_withComments(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	ids := seed(t, srv.pool)

	res := send(t, http.MethodGet, srv.url+"/posts/"+ids[0].String(), "", nil)
	if res.status != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", res.status, res.body)
	}

	var got post
	decodeStrict(t, res.body, &got)
	if got.ID != ids[0] || got.Title != "First <script>alert(1)</script>" {
		t.Errorf("post = %s %q, want %s with its title", got.ID, got.Title,
			ids[0])
	}
	if len(got.Comments) != 2 || got.Comments[0].Status != event.StatusPending {
		t.Errorf("comments = %+v, want two pending", got.Comments)
	}

	res = send(t, http.MethodGet, srv.url+"/posts/"+ids[1].String(), "", nil)
	if res.status != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", res.status, res.body)
	}
	if !bytes.Contains(res.body, []byte(`"comments":[]`)) {
		t.Errorf("post without comments = %s, want \"comments\":[]", res.body)
	}
}
