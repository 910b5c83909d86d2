package systest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"
)

// listPath lists the largest page GET /posts serves. Every test keeps its
// posts below that size, so one page is the whole read model.
const listPath = "/posts?limit=500"

// maxReported bounds the differences one check reports before it stops
// the test, so a read model that is far off does not flood the output.
const maxReported = 20

// postView is a post as the query service returns it.
type postView struct {
	ID        string        `json:"id"`
	Title     string        `json:"title"`
	CreatedAt time.Time     `json:"created_at"`
	Comments  []commentView `json:"comments"`
}

// commentView is a comment as the query service and comments-svc list it.
type commentView struct {
	ID      string `json:"id"`
	Content string `json:"content"`
	Status  string `json:"status"`
}

// listPosts returns the body of the query service's GET /posts?limit=500.
func (s *system) listPosts(q *process) []byte {
	s.t.Helper()

	body, err := s.getOK(q.url(listPath))
	if err != nil {
		s.t.Fatal(err)
	}

	return body
}

// reporter reports differences with t.Errorf and stops the test after
// maxReported of them.
type reporter struct {
	t *testing.T
	n int
}

func (r *reporter) errorf(format string, args ...any) {
	r.t.Helper()

	r.n++
	r.t.Errorf(format, args...)
	if r.n >= maxReported {
		r.t.Fatalf("stopped after %d differences", r.n)
	}
}

// checkReadModel checks the query service's read model against what led
// recorded: every post once, newest first, with its exact title and
// creation time, and every comment once with its exact content and final
// status. Each post's comments must be those comments-svc lists, in the
// same order, and GET /posts/{id} must return the bytes of the post's
// element in the list.
func (s *system) checkReadModel(q, comments *process, led *ledger) {
	s.t.Helper()

	body := s.listPosts(q)
	var raw []json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		s.t.Fatalf("decode GET %s: %v", listPath, err)
	}

	views := make([]postView, len(raw))
	for i, r := range raw {
		if err := decodeStrict(r, &views[i]); err != nil {
			s.t.Fatalf("GET %s element %d: %v", listPath, i, err)
		}
	}

	want := led.newestFirst()
	rep := &reporter{t: s.t}
	if !samePostIDs(rep, views, want) {
		return
	}

	var nComments int
	for i := range want {
		checkPost(rep, views[i], want[i])
		s.checkCommentsSvc(rep, comments, views[i])
		s.checkGetPost(rep, q, views[i].ID, raw[i])
		nComments += len(views[i].Comments)
	}

	s.t.Logf("read model checked: %d posts, %d comments", len(views), nComments)
}

// samePostIDs reports whether views lists exactly the posts of want in
// the same order, and reports the difference otherwise.
func samePostIDs(rep *reporter, views []postView, want []createdPost) bool {
	rep.t.Helper()

	got := map[string]int{}
	for _, v := range views {
		got[v.ID]++
	}

	ok := len(views) == len(want)
	for _, w := range want {
		if got[w.ID] != 1 {
			rep.errorf("post %s (%q) appears %d times in GET %s, want once",
				w.ID, w.Title, got[w.ID], listPath)
			ok = false
		}
		delete(got, w.ID)
	}
	for id := range got {
		rep.errorf("GET %s has post %s, which the test did not create",
			listPath, id)
		ok = false
	}

	if !ok {
		rep.t.Errorf("GET %s has %d posts, want %d", listPath, len(views),
			len(want))
		return false
	}

	for i := range want {
		if views[i].ID != want[i].ID {
			rep.errorf("post %d of GET %s is %s, want %s (newest first)",
				i, listPath, views[i].ID, want[i].ID)
			return false
		}
	}

	return true
}

// checkPost compares one post and its comments with what the test
// created.
func checkPost(rep *reporter, v postView, w createdPost) {
	rep.t.Helper()

	if v.Title != w.Title {
		rep.errorf("post %s title = %q, want %q", v.ID, v.Title, w.Title)
	}
	if !v.CreatedAt.Equal(w.CreatedAt) {
		rep.errorf("post %s created_at = %s, want %s", v.ID,
			v.CreatedAt.Format(time.RFC3339Nano),
			w.CreatedAt.Format(time.RFC3339Nano))
	}

	seen := map[string]bool{}
	for _, c := range v.Comments {
		if seen[c.ID] {
			rep.errorf("post %s lists comment %s twice", v.ID, c.ID)
			continue
		}
		seen[c.ID] = true

		wc, ok := w.Comments[c.ID]
		switch {
		case !ok:
			rep.errorf("post %s has comment %s, which the test did not "+
				"create on it", v.ID, c.ID)
		case c.Content != wc.Content:
			rep.errorf("comment %s content = %q, want %q byte for byte",
				c.ID, c.Content, wc.Content)
		case c.Status != wc.Status:
			rep.errorf("comment %s (%q) status = %q, want %q", c.ID,
				c.Content, c.Status, wc.Status)
		}
	}

	for id, wc := range w.Comments {
		if !seen[id] {
			rep.errorf("post %s lacks comment %s (%q)", v.ID, id, wc.Content)
		}
	}
}

// checkCommentsSvc compares the post's comments with the list
// comments-svc keeps for the post, order included.
func (s *system) checkCommentsSvc(rep *reporter, comments *process, v postView) {
	rep.t.Helper()

	body, err := s.getOK(comments.url("/posts/" + v.ID + "/comments"))
	if err != nil {
		rep.errorf("comments-svc: %v", err)
		return
	}

	var list []commentView
	if err := decodeStrict(body, &list); err != nil {
		rep.errorf("comments-svc comments of post %s: %v", v.ID, err)
		return
	}

	if !slices.Equal(list, v.Comments) {
		rep.errorf("post %s: query-svc lists comments\n%s\nbut comments-svc "+
			"lists\n%s", v.ID, describe(v.Comments), describe(list))
	}
}

// checkGetPost checks that GET /posts/{id} returns listed, the post's
// element of GET /posts.
func (s *system) checkGetPost(rep *reporter, q *process, id string, listed []byte) {
	rep.t.Helper()

	body, err := s.getOK(q.url("/posts/" + id))
	if err != nil {
		rep.errorf("query-svc: %v", err)
		return
	}

	if got := bytes.TrimSpace(body); !bytes.Equal(got, listed) {
		rep.errorf("GET /posts/%s = %s, want the element of GET %s: %s",
			id, got, listPath, listed)
	}
}

func describe(list []commentView) string {
	var b bytes.Buffer
	for _, c := range list {
		fmt.Fprintf(&b, "  %s %-8s %q\n", c.ID, c.Status, c.Content)
	}

	return b.String()
}

// checkSameBytes fails the test when got differs from want, and shows
// where.
func checkSameBytes(t *testing.T, subject string, got, want []byte) {
	t.Helper()

	if bytes.Equal(got, want) {
		return
	}

	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	lo := max(i-200, 0)
	t.Errorf("%s: %d bytes, want %d identical bytes; first difference at "+
		"byte %d:\n got: …%s…\nwant: …%s…", subject, len(got), len(want), i,
		got[lo:min(i+200, len(got))], want[lo:min(i+200, len(want))])
}
