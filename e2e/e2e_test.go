package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

type post struct {
	ID        string    `json:"id"`
	Title     string    `json:"title"`
	CreatedAt string    `json:"created_at"`
	Comments  []comment `json:"comments"`
}

type comment struct {
	ID      string `json:"id"`
	PostID  string `json:"post_id"`
	Content string `json:"content"`
	Status  string `json:"status"`
}

func env(t *testing.T, name string) string {
	t.Helper()

	v := os.Getenv(name)
	if v != "" {
		return v
	}

	msg := name + " is not set; run the end-to-end tests with `make test`"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)

	return ""
}

func send(t *testing.T, method, url, body string) (int, []byte) {
	t.Helper()

	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatalf("build request %s %s: %v", method, url, err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
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

	return res.StatusCode, out
}

func mustJSON(t *testing.T, data []byte, v any) {
	t.Helper()

	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("decode %q: %v", data, err)
	}
}

func findPost(t *testing.T, base, id string) (post, bool) {
	t.Helper()

	status, body := send(t, http.MethodGet, base+"/posts?limit=500", "")
	if status != http.StatusOK {
		t.Fatalf("GET /posts: status %d, body %s", status, body)
	}

	var posts []post
	mustJSON(t, body, &posts)
	for _, p := range posts {
		if p.ID == id {
			return p, true
		}
	}

	return post{}, false
}

// TestBlog_postAndModeratedComments creates a post and three comments
// through the router and waits until the query service shows each comment
// with its final status and exact text.
func TestBlog_postAndModeratedComments(t *testing.T) {
	base := env(t, "E2E_BLOG_URL")
	title := "End to end " + time.Now().UTC().Format(time.RFC3339Nano)

	status, body := send(t, http.MethodPost, base+"/posts/create",
		`{"title": "  `+title+`  "}`)
	if status != http.StatusCreated {
		t.Fatalf("create post: status %d, want 201; body %s", status, body)
	}

	var created post
	mustJSON(t, body, &created)
	if created.Title != title {
		t.Fatalf("created title = %q, want the trimmed %q", created.Title, title)
	}

	want := map[string]string{
		"What a lovely post":                     "approved",
		"I would rather eat an Orange, honestly": "rejected",
		"שלום עולם 👋🏽 مرحبا <b>bold?</b>":        "approved",
	}
	ids := map[string]string{}
	for content := range want {
		payload, _ := json.Marshal(map[string]string{"content": content})
		status, body := send(t, http.MethodPost,
			base+"/posts/"+created.ID+"/comments", string(payload))
		if status != http.StatusCreated {
			t.Fatalf("create comment %q: status %d, want 201; body %s",
				content, status, body)
		}

		var c comment
		mustJSON(t, body, &c)
		if c.Status != "pending" {
			t.Errorf("new comment status = %q, want pending", c.Status)
		}
		if c.Content != content {
			t.Errorf("new comment content = %q, want %q", c.Content, content)
		}
		ids[c.ID] = content
	}

	deadline := time.Now().Add(30 * time.Second)
	for {
		p, ok := findPost(t, base, created.ID)
		settled := ok && len(p.Comments) == len(want)
		for _, c := range p.Comments {
			settled = settled && c.Status == want[c.Content]
		}

		if settled {
			checkSettled(t, p, ids, want)
			return
		}

		if time.Now().After(deadline) {
			t.Fatalf("post %s not settled after 30 s: %+v", created.ID, p)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func checkSettled(t *testing.T, p post, ids, want map[string]string) {
	t.Helper()

	for _, c := range p.Comments {
		content, ok := ids[c.ID]
		if !ok {
			t.Errorf("unexpected comment %s on the post", c.ID)
			continue
		}
		if c.Content != content {
			t.Errorf("comment %s content = %q, want %q byte for byte",
				c.ID, c.Content, content)
		}
		if c.Status != want[content] {
			t.Errorf("comment %q status = %q, want %q",
				content, c.Status, want[content])
		}
	}
}

// kcatRecord is one line of `kcat -J` output.
type kcatRecord struct {
	Topic     string   `json:"topic"`
	Partition int      `json:"partition"`
	Offset    int64    `json:"offset"`
	Key       string   `json:"key"`
	Payload   string   `json:"payload"`
	Headers   []string `json:"headers"`
}

// TestKcat_readsCommentEvents reads blog.comments from the beginning with
// kcat and checks key, headers and envelope of the events of a new comment.
func TestKcat_readsCommentEvents(t *testing.T) {
	base := env(t, "E2E_BLOG_URL")
	brokers := env(t, "E2E_KAFKA_BROKERS")

	status, body := send(t, http.MethodPost, base+"/posts/create",
		`{"title":"Read me with kcat"}`)
	if status != http.StatusCreated {
		t.Fatalf("create post: status %d; body %s", status, body)
	}
	var p post
	mustJSON(t, body, &p)

	status, body = send(t, http.MethodPost, base+"/posts/"+p.ID+"/comments",
		`{"content":"Seen by kcat"}`)
	if status != http.StatusCreated {
		t.Fatalf("create comment: status %d; body %s", status, body)
	}
	var c comment
	mustJSON(t, body, &c)

	var found map[string]kcatRecord
	deadline := time.Now().Add(30 * time.Second)
	for {
		found = commentEvents(t, brokers, c.ID)
		if len(found) == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}

	for _, typ := range []string{"CommentCreated", "CommentUpdated"} {
		rec, ok := found[typ]
		if !ok {
			t.Errorf("kcat found no %s event for comment %s", typ, c.ID)
			continue
		}
		checkRecord(t, rec, typ, p.ID)
	}
}

func commentEvents(t *testing.T, brokers, commentID string) map[string]kcatRecord {
	t.Helper()

	cmd := exec.Command("kcat", "-b", brokers, "-C", "-t", "blog.comments",
		"-o", "beginning", "-e", "-q", "-J")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kcat: %v", err)
	}

	found := map[string]kcatRecord{}
	scanner := bufio.NewScanner(bytes.NewReader(out))
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
	for scanner.Scan() {
		var rec kcatRecord
		mustJSON(t, scanner.Bytes(), &rec)

		var env struct {
			Type string `json:"type"`
			Data struct {
				ID string `json:"id"`
			} `json:"data"`
		}
		mustJSON(t, []byte(rec.Payload), &env)
		if env.Data.ID == commentID {
			found[env.Type] = rec
		}
	}

	return found
}

func checkRecord(t *testing.T, rec kcatRecord, typ, postID string) {
	t.Helper()

	if rec.Key != postID {
		t.Errorf("%s key = %q, want the post id %s", typ, rec.Key, postID)
	}

	headers := map[string]string{}
	for i := 0; i+1 < len(rec.Headers); i += 2 {
		headers[rec.Headers[i]] = rec.Headers[i+1]
	}

	var env struct {
		ID            string          `json:"id"`
		Type          string          `json:"type"`
		SchemaVersion int             `json:"schema_version"`
		OccurredAt    string          `json:"occurred_at"`
		Producer      string          `json:"producer"`
		Data          json.RawMessage `json:"data"`
	}
	mustJSON(t, []byte(rec.Payload), &env)

	checks := []struct {
		what, got, want string
	}{
		{"event-type header", headers["event-type"], typ},
		{"event-id header", headers["event-id"], env.ID},
		{"content-type header", headers["content-type"], "application/json"},
		{"envelope type", env.Type, typ},
		{"envelope producer", env.Producer, "comments-svc"},
		{"envelope schema_version", fmt.Sprint(env.SchemaVersion), "1"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s %s = %q, want %q", typ, c.what, c.got, c.want)
		}
	}

	if env.ID == "" || env.OccurredAt == "" || len(env.Data) == 0 {
		t.Errorf("%s envelope lacks id, occurred_at or data: %s", typ, rec.Payload)
	}
}
