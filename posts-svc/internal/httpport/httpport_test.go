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
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kafkablog/blog/posts-svc/internal/dbtest"
	"github.com/kafkablog/blog/posts-svc/internal/httpport"
	"github.com/kafkablog/blog/posts-svc/internal/posts"
	"github.com/kafkablog/blog/shared/event"
	"github.com/kafkablog/blog/shared/httpapi"
)

const jsonType = "application/json"

// server is the real router with the posts routes and the real store on a
// fresh database.
type server struct {
	url  string
	pool *pgxpool.Pool
}

func newServer(t *testing.T) server {
	t.Helper()

	pool := dbtest.New(t)
	store, err := posts.NewStore(pool, event.TopicPosts)
	if err != nil {
		t.Fatalf("new store: %v", err)
	}

	router := httpapi.NewRouter()
	httpport.Register(router, store)
	srv := httptest.NewServer(router)
	t.Cleanup(srv.Close)

	return server{url: srv.URL, pool: pool}
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

// checkNothingStored fails unless the database has no post and no outbox
// row.
func checkNothingStored(t testing.TB, pool *pgxpool.Pool) {
	t.Helper()

	if n := dbtest.Count(t, pool, "posts"); n != 0 {
		t.Errorf("posts has %d rows, want 0", n)
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

func titleBody(title string) []byte {
	body, err := json.Marshal(map[string]string{"title": title})
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

type badRequest struct {
	name        string
	contentType string
	body        []byte
	status      int
	code        string
}

func badCreateRequests() []badRequest {
	tooLarge := `{"title": "` + strings.Repeat("a", httpapi.MaxBodyBytes) + `"}`

	return []badRequest{
		{"malformed JSON", jsonType, []byte(`{"title": "a"`),
			400, "malformed_json"},
		{"syntax error", jsonType, []byte(`{"title": 'a'}`),
			400, "malformed_json"},
		{"empty body", jsonType, nil, 400, "malformed_json"},
		{"string instead of object", jsonType, []byte(`"a title"`),
			400, "malformed_json"},
		{"array instead of object", jsonType, []byte(`[{"title": "a"}]`),
			400, "malformed_json"},
		{"two objects", jsonType, []byte(`{"title": "a"} {"title": "b"}`),
			400, "malformed_json"},
		{"unknown field", jsonType, []byte(`{"title": "a", "body": "b"}`),
			400, "unknown_field"},
		{"missing title", jsonType, []byte(`{}`), 400, "missing_field"},
		{"null title", jsonType, []byte(`{"title": null}`),
			400, "missing_field"},
		{"number title", jsonType, []byte(`{"title": 42}`),
			400, "invalid_field"},
		{"empty title", jsonType, []byte(`{"title": ""}`),
			400, "missing_field"},
		{"white space title", jsonType,
			[]byte(`{"title": " \t\r\n\u00a0\u2003 "}`),
			400, "missing_field"},
		{"201 code points", jsonType, titleBody(repeatRunes(201)),
			400, "field_too_long"},
		{"201 code points inside white space", jsonType,
			titleBody("  " + repeatRunes(201) + "\n"),
			400, "field_too_long"},
		{"NUL character", jsonType, []byte(`{"title": "a\u0000b"}`),
			400, "invalid_field"},
		{"Latin-1 byte", jsonType, []byte("{\"title\": \"caf\xe9\"}"),
			400, "invalid_utf8"},
		{"truncated UTF-8 sequence", jsonType,
			[]byte("{\"title\": \"smile \xf0\x9f\x98\"}"),
			400, "invalid_utf8"},
		{"text/plain", "text/plain", titleBody("a"),
			415, "unsupported_media_type"},
		{"no content type", "", titleBody("a"),
			415, "unsupported_media_type"},
		{"form content type", "application/x-www-form-urlencoded",
			[]byte("title=a"), 415, "unsupported_media_type"},
		{"JSON patch content type", "application/json-patch+json",
			titleBody("a"), 415, "unsupported_media_type"},
		{"body over 16 KiB", jsonType, []byte(tooLarge),
			413, "body_too_large"},
		// encoding/json lets the last duplicate win and matches names
		// case insensitively; both must be refused.
		{"duplicate title", jsonType, []byte(`{"title":"a","title":"b"}`),
			400, "duplicate_field"},
		{"duplicate title spelt with an escape", jsonType,
			[]byte(`{"title":"a","t\u0069tle":"b"}`),
			400, "duplicate_field"},
		{"upper-case key", jsonType, []byte(`{"TITLE":"x"}`),
			400, "unknown_field"},
		{"capitalised key", jsonType, []byte(`{"Title":"x"}`),
			400, "unknown_field"},
		{"title and Title", jsonType, []byte(`{"title":"a","Title":"b"}`),
			400, "unknown_field"},
	}
}

func TestCreatePost_badInput(t *testing.T) {
	t.Parallel()
	srv := newServer(t)

	for _, path := range []string{"/posts", "/posts/create"} {
		for _, tc := range badCreateRequests() {
			t.Run(path+" "+tc.name, func(t *testing.T) {
				res := send(t, http.MethodPost, srv.url+path, tc.contentType,
					tc.body)

				checkError(t, res, tc.status, tc.code)
				checkNothingStored(t, srv.pool)
			})
		}
	}
}

func TestPostRoutes_wrongMethod(t *testing.T) {
	t.Parallel()
	srv := newServer(t)

	cases := []struct {
		method string
		path   string
	}{
		{http.MethodPut, "/posts"},
		{http.MethodDelete, "/posts"},
		{http.MethodPatch, "/posts"},
		{http.MethodPut, "/posts/create"},
		{http.MethodDelete, "/posts/create"},
		{http.MethodPatch, "/posts/create"},
		{http.MethodGet, "/posts/create"},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			res := send(t, tc.method, srv.url+tc.path, jsonType,
				titleBody("a valid title"))

			checkError(t, res, http.StatusMethodNotAllowed,
				"method_not_allowed")
			checkNothingStored(t, srv.pool)
		})
	}
}

type createdPost struct {
	ID        uuid.UUID `json:"id"`
	Title     string    `json:"title"`
	CreatedAt time.Time `json:"created_at"`
}

// checkCreated checks a 201 response for want, the stored row and its one
// PostCreated outbox row, and returns the post.
func checkCreated(
	t testing.TB,
	pool *pgxpool.Pool,
	res response,
	want string,
) createdPost {
	t.Helper()

	if res.status != http.StatusCreated {
		t.Fatalf("status = %d, want 201; body %s", res.status, res.body)
	}

	// The raw body must carry the text as JSON escapes only what it must,
	// so '<' stays '<' and non-ASCII text stays UTF-8.
	if !bytes.Contains(res.body, jsonText(want)) {
		t.Errorf("body %s does not contain the title as %s", res.body,
			jsonText(want))
	}

	var got createdPost
	decodeStrict(t, res.body, &got)
	if got.Title != want {
		t.Errorf("title = %q, want %q", got.Title, want)
	}
	if got.ID == uuid.Nil {
		t.Errorf("id is missing; body %s", res.body)
	}
	if got.CreatedAt.IsZero() {
		t.Errorf("created_at is missing; body %s", res.body)
	}

	var stored string
	var storedAt time.Time
	err := pool.QueryRow(context.Background(),
		"SELECT title, created_at FROM posts WHERE id = $1", got.ID).
		Scan(&stored, &storedAt)
	if err != nil {
		t.Fatalf("select post %s: %v", got.ID, err)
	}
	if stored != want {
		t.Errorf("stored title = %q, want %q", stored, want)
	}
	if !storedAt.Equal(got.CreatedAt) {
		t.Errorf("stored created_at = %s, want %s", storedAt, got.CreatedAt)
	}

	checkPostCreatedEvent(t, pool, got)

	return got
}

func checkPostCreatedEvent(t testing.TB, pool *pgxpool.Pool, p createdPost) {
	t.Helper()

	rows := dbtest.Outbox(t, pool, p.ID.String())
	if len(rows) != 1 {
		t.Fatalf("outbox has %d rows with key %s, want 1", len(rows), p.ID)
	}

	row := rows[0]
	if row.Topic != event.TopicPosts {
		t.Errorf("outbox topic = %q, want %q", row.Topic, event.TopicPosts)
	}
	if row.EventType != event.TypePostCreated {
		t.Errorf("outbox event type = %q, want %q", row.EventType,
			event.TypePostCreated)
	}
	if !bytes.Contains(row.Payload, jsonText(p.Title)) {
		t.Errorf("payload %s does not contain the title as %s",
			row.Payload, jsonText(p.Title))
	}

	env, err := event.Decode(row.Payload)
	if err != nil {
		t.Fatalf("decode outbox payload: %v", err)
	}
	if env.ID != row.EventID || env.Type != event.TypePostCreated {
		t.Errorf("envelope id %s type %s, want id %s type %s", env.ID,
			env.Type, row.EventID, event.TypePostCreated)
	}
	if env.Producer != posts.Producer {
		t.Errorf("producer = %q, want %q", env.Producer, posts.Producer)
	}

	data, err := event.DecodeData[event.PostCreated](env)
	if err != nil {
		t.Fatalf("decode PostCreated data: %v", err)
	}
	if data.ID != p.ID || data.Title != p.Title ||
		!data.CreatedAt.Equal(p.CreatedAt) {
		t.Errorf("event data = %+v, want %+v", data, p)
	}
}

func TestCreatePost_storesTrimmedText(t *testing.T) {
	t.Parallel()
	srv := newServer(t)

	cases := []struct {
		name  string
		path  string
		title string
		want  string
	}{
		{"plain", "/posts", "Hello", "Hello"},
		{"create route", "/posts/create", "Hello again", "Hello again"},
		{"surrounding white space", "/posts",
			" \t\u00a0Spaced out\u2003\r\n ", "Spaced out"},
		{"inner white space kept", "/posts", "a  \n\t b", "a  \n\t b"},
		{"right to left", "/posts", "שלום עולם و مرحبا بالعالم",
			"שלום עולם و مرحبا بالعالم"},
		{"emoji sequences", "/posts", "Family 👩‍👩‍👧‍👦 flag 🇳🇴 ok 👍🏽",
			"Family 👩‍👩‍👧‍👦 flag 🇳🇴 ok 👍🏽"},
		{"script tag stays literal", "/posts",
			"<script>alert(1)</script> & 'x' > y",
			"<script>alert(1)</script> & 'x' > y"},
		{"decomposed accent not normalised", "/posts", "Cafe\u0301",
			"Cafe\u0301"},
		{"200 code points", "/posts", repeatRunes(200), repeatRunes(200)},
		{"200 code points inside white space", "/posts/create",
			"\n  " + repeatRunes(200) + "  \t", repeatRunes(200)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := send(t, http.MethodPost, srv.url+tc.path, jsonType,
				titleBody(tc.title))

			checkCreated(t, srv.pool, res, tc.want)
		})
	}
}

func TestCreatePost_contentTypeWithCharset(t *testing.T) {
	t.Parallel()
	srv := newServer(t)

	res := send(t, http.MethodPost, srv.url+"/posts",
		"application/json; charset=utf-8", titleBody("With charset"))

	checkCreated(t, srv.pool, res, "With charset")
}

func TestCreatePost_bodyOfExactly16KiB(t *testing.T) {
	t.Parallel()
	srv := newServer(t)

	body := titleBody("Padded")
	body = append(body, bytes.Repeat([]byte(" "),
		httpapi.MaxBodyBytes-len(body))...)
	if len(body) != httpapi.MaxBodyBytes {
		t.Fatalf("body is %d bytes, want %d", len(body), httpapi.MaxBodyBytes)
	}

	res := send(t, http.MethodPost, srv.url+"/posts", jsonType, body)

	checkCreated(t, srv.pool, res, "Padded")
}

func TestListPosts_newestFirst(t *testing.T) {
	t.Parallel()
	srv := newServer(t)

	res := send(t, http.MethodGet, srv.url+"/posts", "", nil)
	if res.status != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", res.status, res.body)
	}
	if got := strings.TrimSpace(string(res.body)); got != "[]" {
		t.Errorf("body of an empty list = %s, want []", got)
	}

	var created []createdPost
	for _, title := range []string{"first", "second", "third"} {
		res := send(t, http.MethodPost, srv.url+"/posts", jsonType,
			titleBody(title))
		created = append(created, checkCreated(t, srv.pool, res, title))
	}

	res = send(t, http.MethodGet, srv.url+"/posts?limit=2", "", nil)
	if res.status != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", res.status, res.body)
	}

	var list []createdPost
	decodeStrict(t, res.body, &list)
	if len(list) != 2 {
		t.Fatalf("got %d posts, want 2: %s", len(list), res.body)
	}
	if list[0].ID != created[2].ID || list[1].ID != created[1].ID {
		t.Errorf("order = %s, %s; want third %s, then second %s",
			list[0].ID, list[1].ID, created[2].ID, created[1].ID)
	}
	if list[0].Title != "third" || !list[0].CreatedAt.Equal(created[2].CreatedAt) {
		t.Errorf("first post = %+v, want %+v", list[0], created[2])
	}
}

func TestListPosts_invalidLimit(t *testing.T) {
	t.Parallel()
	srv := newServer(t)

	for _, limit := range []string{"0", "-1", "501", "abc", "1.5", "1e2"} {
		t.Run(limit, func(t *testing.T) {
			res := send(t, http.MethodGet, srv.url+"/posts?limit="+limit, "",
				nil)

			checkError(t, res, http.StatusBadRequest, "invalid_limit")
		})
	}
}

// TestPostRoutes_pathTricks sends a valid post to paths that mux used to
// clean and redirect with an empty 301 redirect, or match after decoding.
// Each gets the JSON 404 and stores nothing.
func TestPostRoutes_pathTricks(t *testing.T) {
	t.Parallel()
	srv := newServer(t)

	paths := []string{
		"/posts/../posts/create",
		"/posts/./create",
		"/posts/%2e%2e/posts/create",
		"/posts/%2E%2E/posts/create",
		"//posts/create",
		"//posts",
		"/posts//create",
		"/posts/create/",
		"/posts/",
		"/./posts",
		"/posts%2Fcreate",
		"/posts/%63reate",
		"/%70osts",
	}
	for _, path := range paths {
		for _, method := range []string{http.MethodPost, http.MethodGet} {
			t.Run(method+" "+path, func(t *testing.T) {
				res := send(t, method, srv.url+path, jsonType,
					titleBody("a valid title"))

				checkError(t, res, http.StatusNotFound, "not_found")
				if loc := res.header.Get("Location"); loc != "" {
					t.Errorf("Location = %q, want no redirect", loc)
				}
				checkNothingStored(t, srv.pool)
			})
		}
	}
}

func TestPostRoutes_head(t *testing.T) {
	t.Parallel()
	srv := newServer(t)

	cases := []struct {
		path   string
		status int
	}{
		{"/posts", http.StatusOK},
		{"/posts?limit=2", http.StatusOK},
		{"/posts?limit=0", http.StatusBadRequest},
		{"/posts/create", http.StatusMethodNotAllowed},
		{"/healthz", http.StatusOK},
		{"//posts", http.StatusNotFound},
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

// gatedStore holds each Create until the client of its request has gone
// away, so the write always runs after the disconnect, and records the
// context the write got.
type gatedStore struct {
	*posts.Store
	mu       sync.Mutex
	ctxErr   error
	deadline time.Duration
}

func (g *gatedStore) Create(ctx context.Context, title string) (posts.Post, error) {
	req, _ := ctx.Value(requestKey{}).(context.Context)
	if req == nil {
		return posts.Post{}, errors.New("the write lost the request's values")
	}

	select {
	case <-req.Done():
	case <-time.After(5 * time.Second):
		return posts.Post{}, errors.New("the client never went away")
	}

	g.mu.Lock()
	g.ctxErr = ctx.Err()
	if d, ok := ctx.Deadline(); ok {
		g.deadline = time.Until(d)
	}
	g.mu.Unlock()

	return g.Store.Create(ctx, title)
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

// levels returns the level of each record and the highest.
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

// TestCreatePost_clientGoesAway sends a valid post on a raw connection,
// then closes the sending side or the whole connection before the store
// write starts. The post is stored once and published, a client that is
// still reading gets 201, and nothing is logged above INFO. Not parallel:
// it replaces the default logger.
func TestCreatePost_clientGoesAway(t *testing.T) {
	for _, mode := range []string{"half-close", "close"} {
		t.Run(mode, func(t *testing.T) {
			logs := &logRecorder{}
			old := slog.Default()
			slog.SetDefault(slog.New(logs))
			t.Cleanup(func() { slog.SetDefault(old) })

			pool := dbtest.New(t)
			inner, err := posts.NewStore(pool, event.TopicPosts)
			if err != nil {
				t.Fatalf("new store: %v", err)
			}
			store := &gatedStore{Store: inner}
			router := httpapi.NewRouter()
			httpport.Register(router, store)

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

			body := titleBody("Sent and gone")
			_, err = fmt.Fprintf(conn, "POST /posts HTTP/1.1\r\n"+
				"Host: posts.com\r\nContent-Type: application/json\r\n"+
				"Content-Length: %d\r\n\r\n%s", len(body), body)
			if err != nil {
				t.Fatalf("write request: %v", err)
			}

			if mode == "half-close" {
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
					header: res.Header, body: out}, "Sent and gone")
			} else {
				conn.Close()
			}

			select {
			case <-served:
			case <-time.After(20 * time.Second):
				t.Fatal("the handler did not finish")
			}

			if n := dbtest.Count(t, pool, "posts"); n != 1 {
				t.Errorf("posts has %d rows, want 1", n)
			}
			if n := dbtest.Count(t, pool, "outbox"); n != 1 {
				t.Errorf("outbox has %d rows, want 1", n)
			}

			store.mu.Lock()
			if store.ctxErr != nil {
				t.Errorf("the write's context was done: %v", store.ctxErr)
			}
			if store.deadline <= 0 || store.deadline > httpapi.WriteTimeout {
				t.Errorf("the write's deadline was %s away, want within %s",
					store.deadline, httpapi.WriteTimeout)
			}
			store.mu.Unlock()

			all, highest := logs.levels()
			if highest > slog.LevelInfo {
				t.Errorf("logged above INFO: %q", all)
			}
		})
	}
}
