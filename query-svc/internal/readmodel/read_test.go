package readmodel_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kafkablog/blog/query-svc/internal/dbtest"
	"github.com/kafkablog/blog/query-svc/internal/readmodel"
	"github.com/kafkablog/blog/shared/event"
	"github.com/kafkablog/blog/shared/messaging"
)

func ids(posts []readmodel.Post) []uuid.UUID {
	out := make([]uuid.UUID, len(posts))
	for i, p := range posts {
		out[i] = p.ID
	}

	return out
}

// seedPosts stores n posts a minute apart plus two posts that share the
// newest post's creation time, and returns every id in the order List
// must return them: newest first, and by id, highest first, within one
// instant.
func seedPosts(t testing.TB, n int) ([]uuid.UUID, *readmodel.Reader) {
	t.Helper()
	pool := dbtest.New(t)

	var recs []messaging.Record
	var want []uuid.UUID
	for i := range n {
		id := uuid.New()
		recs = append(recs, postCreated(t, id, "Post", base.Add(
			time.Duration(i)*time.Minute)))
		want = append(want, id)
	}

	newest := base.Add(time.Duration(n) * time.Minute)
	twins := []uuid.UUID{uuid.New(), uuid.New()}
	slices.SortFunc(twins, func(a, b uuid.UUID) int {
		return strings.Compare(a.String(), b.String())
	})
	for _, id := range twins {
		recs = append(recs, postCreated(t, id, "Twin", newest))
		want = append(want, id)
	}

	mustApply(t, pool, recs...)
	slices.Reverse(want)

	return want, readmodel.NewReader(pool)
}

func TestReaderList_newestFirst(t *testing.T) {
	t.Parallel()
	want, reader := seedPosts(t, 5)

	got, err := reader.List(context.Background(), 500, nil)
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if !slices.Equal(ids(got), want) {
		t.Errorf("List order = %v, want %v", ids(got), want)
	}

	got, err = reader.List(context.Background(), 3, nil)
	if err != nil {
		t.Fatalf("list with limit 3: %v", err)
	}
	if !slices.Equal(ids(got), want[:3]) {
		t.Errorf("List with limit 3 = %v, want %v", ids(got), want[:3])
	}
}

func TestReaderList_beforeCursor(t *testing.T) {
	t.Parallel()
	want, reader := seedPosts(t, 5)
	ctx := context.Background()

	// Pages of two, each after the last post of the one before.
	var seen []uuid.UUID
	var before *uuid.UUID
	for page := 0; ; page++ {
		if page > len(want) {
			t.Fatalf("paging did not end after %d pages", page)
		}

		got, err := reader.List(ctx, 2, before)
		if err != nil {
			t.Fatalf("list page %d: %v", page, err)
		}
		if got == nil {
			t.Fatalf("page %d is nil, want an empty slice", page)
		}
		if len(got) == 0 {
			break
		}

		seen = append(seen, ids(got)...)
		last := got[len(got)-1].ID
		before = &last
	}

	if !slices.Equal(seen, want) {
		t.Errorf("posts across pages = %v, want %v", seen, want)
	}
}

func TestReaderList_unknownCursor(t *testing.T) {
	t.Parallel()
	_, reader := seedPosts(t, 2)

	unknown := uuid.New()
	_, err := reader.List(context.Background(), 10, &unknown)
	if !errors.Is(err, readmodel.ErrNotFound) {
		t.Errorf("List before an unknown post: err = %v, want ErrNotFound", err)
	}
}

func TestReaderList_cursorOfCommentOnlyPost(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	postID := uuid.New()
	mustApply(t, pool, postCreated(t, uuid.New(), "Known", base),
		commentCreated(t, uuid.New(), postID, "Early", base))

	_, err := readmodel.NewReader(pool).List(context.Background(), 10, &postID)
	if !errors.Is(err, readmodel.ErrNotFound) {
		t.Errorf("List before a post that has only comments: err = %v, "+
			"want ErrNotFound", err)
	}
}

func TestReaderGet_commentsOldestFirst(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	reader := readmodel.NewReader(pool)
	ctx := context.Background()
	postID, otherID := uuid.New(), uuid.New()
	c1, c2, c3, pendingCreate := uuid.New(), uuid.New(), uuid.New(), uuid.New()

	mustApply(t, pool,
		postCreated(t, postID, "With comments", base),
		postCreated(t, otherID, "Without comments", base.Add(time.Hour)),
		commentCreated(t, c3, postID, "third", base.Add(3*time.Second)),
		commentCreated(t, c1, postID, "first", base.Add(time.Second)),
		commentUpdated(t, pendingCreate, postID, "no CommentCreated yet",
			event.StatusApproved, 2),
		commentCreated(t, c2, postID, "second", base.Add(2*time.Second)),
		commentUpdated(t, c1, postID, "first", event.StatusApproved, 2))

	p, err := reader.Get(ctx, postID)
	if err != nil {
		t.Fatalf("get: %v", err)
	}

	want := []readmodel.Comment{
		{ID: c1, Content: "first", Status: event.StatusApproved},
		{ID: c2, Content: "second", Status: event.StatusPending},
		{ID: c3, Content: "third", Status: event.StatusPending},
		{ID: pendingCreate, Content: "no CommentCreated yet",
			Status: event.StatusApproved},
	}
	if !slices.Equal(p.Comments, want) {
		t.Errorf("comments = %+v, want %+v", p.Comments, want)
	}

	empty, err := reader.Get(ctx, otherID)
	if err != nil {
		t.Fatalf("get the post without comments: %v", err)
	}
	if empty.Comments == nil || len(empty.Comments) != 0 {
		t.Errorf("comments of a post without comments = %#v, want an "+
			"empty, non-nil slice", empty.Comments)
	}

	list, err := reader.List(ctx, 10, nil)
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if len(list) != 2 || list[0].Comments == nil ||
		!slices.Equal(list[1].Comments, want) {
		t.Errorf("List = %+v, want the post without comments, then the "+
			"one with %+v", list, want)
	}
}

func TestReaderGet_unknownPost(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)

	_, err := readmodel.NewReader(pool).Get(context.Background(), uuid.New())
	if !errors.Is(err, readmodel.ErrNotFound) {
		t.Errorf("err = %v, want ErrNotFound", err)
	}
}
