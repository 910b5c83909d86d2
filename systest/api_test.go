package systest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// writeWorkers is the number of concurrent requests that create posts
// and comments.
const writeWorkers = 8

// do sends a request with an optional JSON body and returns the status
// and the response body.
func (s *system) do(method, url string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("build request %s %s: %w", method, url, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	res, err := s.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()

	out, err := io.ReadAll(res.Body)
	if err != nil {
		return res.StatusCode, nil, fmt.Errorf("read response of %s %s: %w",
			method, url, err)
	}

	return res.StatusCode, out, nil
}

// getOK sends GET url and returns the body of a 200 response.
func (s *system) getOK(url string) ([]byte, error) {
	status, body, err := s.do(http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d, want 200; body %s", url,
			status, bytes.TrimSpace(body))
	}

	return body, nil
}

// decodeStrict decodes data into v and rejects fields v does not have,
// so a change of the API's shape fails the tests.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode %.200q: %w", data, err)
	}

	return nil
}

// Final statuses of a comment after moderation.
const (
	approved = "approved"
	rejected = "rejected"
)

// createdPost is a post the test created, with the comments it created
// on it and the final status moderation must give each of them.
type createdPost struct {
	ID        string
	Title     string
	CreatedAt time.Time
	Comments  map[string]createdComment
}

type createdComment struct {
	ID      string
	Content string
	Status  string
}

// ledger records every post and comment a test created through the
// APIs. It is safe for concurrent use.
type ledger struct {
	mu    sync.Mutex
	posts map[string]*createdPost
}

func newLedger() *ledger {
	return &ledger{posts: map[string]*createdPost{}}
}

func (l *ledger) addPost(p createdPost) {
	l.mu.Lock()
	defer l.mu.Unlock()

	p.Comments = map[string]createdComment{}
	l.posts[p.ID] = &p
}

func (l *ledger) addComment(postID string, c createdComment) {
	l.mu.Lock()
	defer l.mu.Unlock()

	l.posts[postID].Comments[c.ID] = c
}

// counts returns the number of posts and comments recorded.
func (l *ledger) counts() (posts, comments int) {
	l.mu.Lock()
	defer l.mu.Unlock()

	for _, p := range l.posts {
		comments += len(p.Comments)
	}

	return len(l.posts), comments
}

// newestFirst returns copies of the posts in the read model's order:
// newest first, ties broken by the greater id. The canonical text form
// of a UUID sorts like its bytes, as PostgreSQL orders uuid values.
func (l *ledger) newestFirst() []createdPost {
	l.mu.Lock()
	defer l.mu.Unlock()

	out := make([]createdPost, 0, len(l.posts))
	for _, p := range l.posts {
		c := *p
		c.Comments = make(map[string]createdComment, len(p.Comments))
		for id, com := range p.Comments {
			c.Comments[id] = com
		}
		out = append(out, c)
	}

	slices.SortFunc(out, func(a, b createdPost) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})

	return out
}

// commentTexts are the comment templates, each with the verdict that the
// default banned word list ("orange", whole words, any case) must give.
// Leading and trailing spaces are trimmed by comments-svc, and everything
// else must come back byte for byte.
var commentTexts = []struct {
	format string
	status string
}{
	{"  Lovely post, number %d  ", approved},
	{"I would rather eat an Orange, honestly (%d)", rejected},
	{"Ünïcödé 👋🏽 <b>%d</b> & \"quotes\" \\ back\tslash", approved},
	{"oranges are fine, %d of them", approved},
	{"line one %d\nline two ORANGE", rejected},
	{"שלום %d مرحبا", approved},
}

// commentText returns the content sent for comment number i, the
// content that must be stored and its final status.
func commentText(i int) (send, stored, status string) {
	tpl := commentTexts[i%len(commentTexts)]
	send = fmt.Sprintf(tpl.format, i)

	return send, strings.TrimSpace(send), tpl.status
}

// createPost creates a post through posts-svc and records it.
func (s *system) createPost(posts *process, led *ledger, title string) (createdPost, error) {
	body, err := json.Marshal(map[string]string{"title": "  " + title + " "})
	if err != nil {
		return createdPost{}, err
	}

	status, out, err := s.do(http.MethodPost, posts.url("/posts/create"), body)
	if err != nil {
		return createdPost{}, fmt.Errorf("create post %q: %w", title, err)
	}
	if status != http.StatusCreated {
		return createdPost{}, fmt.Errorf("create post %q: status %d, want "+
			"201; body %s", title, status, bytes.TrimSpace(out))
	}

	var p struct {
		ID        string    `json:"id"`
		Title     string    `json:"title"`
		CreatedAt time.Time `json:"created_at"`
	}
	if err := decodeStrict(out, &p); err != nil {
		return createdPost{}, fmt.Errorf("create post %q: %w", title, err)
	}
	if p.Title != title {
		return createdPost{}, fmt.Errorf("create post: title %q, want the "+
			"trimmed %q", p.Title, title)
	}

	created := createdPost{ID: p.ID, Title: p.Title, CreatedAt: p.CreatedAt}
	led.addPost(created)

	return created, nil
}

// createComment creates comment number i on postID through comments-svc
// and records it.
func (s *system) createComment(
	comments *process,
	led *ledger,
	postID string,
	i int,
) error {
	send, stored, final := commentText(i)
	body, err := json.Marshal(map[string]string{"content": send})
	if err != nil {
		return err
	}

	url := comments.url("/posts/" + postID + "/comments")
	status, out, err := s.do(http.MethodPost, url, body)
	if err != nil {
		return fmt.Errorf("create comment %d: %w", i, err)
	}
	if status != http.StatusCreated {
		return fmt.Errorf("create comment %d on post %s: status %d, want "+
			"201; body %s", i, postID, status, bytes.TrimSpace(out))
	}

	var c struct {
		ID      string `json:"id"`
		PostID  string `json:"post_id"`
		Content string `json:"content"`
		Status  string `json:"status"`
	}
	if err := decodeStrict(out, &c); err != nil {
		return fmt.Errorf("create comment %d: %w", i, err)
	}
	if c.Content != stored || c.Status != "pending" || c.PostID != postID {
		return fmt.Errorf("create comment %d: got %+v, want content %q, "+
			"status pending, post %s", i, c, stored, postID)
	}

	led.addComment(postID, createdComment{ID: c.ID, Content: stored, Status: final})
	return nil
}

// createPosts creates n posts with writeWorkers concurrent requests and
// returns their ids. Titles carry tag and a number.
func (s *system) createPosts(posts *process, led *ledger, n int, tag string) []string {
	s.t.Helper()

	ids := make([]string, n)
	err := parallel(n, func(i int) error {
		title := fmt.Sprintf("%s post %d ✓ <i>kafka</i>", tag, i)
		p, err := s.createPost(posts, led, title)
		ids[i] = p.ID
		return err
	})
	if err != nil {
		s.t.Fatal(err)
	}

	return ids
}

// createComments creates n comments spread over postIDs in turn, with
// writeWorkers concurrent requests. Comment numbers start at first, so
// later calls can continue the sequence of texts.
func (s *system) createComments(
	comments *process,
	led *ledger,
	postIDs []string,
	first, n int,
) {
	s.t.Helper()

	err := parallel(n, func(i int) error {
		return s.createComment(comments, led, postIDs[i%len(postIDs)], first+i)
	})
	if err != nil {
		s.t.Fatal(err)
	}
}

// seed creates posts and then comments on them and returns the post ids.
func (s *system) seed(posts, comments *process, led *ledger, nPosts, nComments int) []string {
	s.t.Helper()

	start := time.Now()
	// Comments go out right after their posts: comments-svc must accept
	// them even before posts-svc's relay has published the posts.
	ids := s.createPosts(posts, led, nPosts, "seed")
	s.createComments(comments, led, ids, 0, nComments)
	s.t.Logf("created %d posts and %d comments in %s", nPosts, nComments,
		time.Since(start).Round(time.Millisecond))

	return ids
}

// parallel calls fn for 0..n-1 on writeWorkers goroutines and returns
// the errors joined. After the first error no new call starts.
func parallel(n int, fn func(i int) error) error {
	var (
		mu     sync.Mutex
		errs   []error
		next   int
		failed bool
		wg     sync.WaitGroup
	)

	take := func() (int, bool) {
		mu.Lock()
		defer mu.Unlock()

		if failed || next >= n {
			return 0, false
		}
		next++
		return next - 1, true
	}

	for range min(writeWorkers, n) {
		wg.Go(func() {
			for i, ok := take(); ok; i, ok = take() {
				if err := fn(i); err != nil {
					mu.Lock()
					errs = append(errs, err)
					failed = true
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()

	return errors.Join(errs...)
}
