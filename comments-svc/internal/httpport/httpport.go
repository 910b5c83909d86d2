// Package httpport serves the comments-svc HTTP API.
package httpport

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/kafkablog/blog/comments-svc/internal/comments"
	"github.com/kafkablog/blog/shared/httpapi"
)

// Store is the part of the comments store that the handlers use.
type Store interface {
	PostExists(ctx context.Context, id uuid.UUID) (bool, error)
	Create(ctx context.Context, postID uuid.UUID, content string) (comments.Comment, error)
	List(ctx context.Context, postID uuid.UUID) ([]comments.Comment, error)
}

// CatchUp blocks until the posts consumer has applied every PostCreated
// event that was in the log when it was called, or ctx is done.
type CatchUp func(ctx context.Context) error

type handlers struct {
	store   Store
	catchUp CatchUp
	wait    time.Duration
}

// Register adds POST and GET /posts/{id}/comments to r. On an unknown post
// the handlers wait up to wait for the posts consumer to catch up before
// they return 404, so a comment sent right after its post is accepted.
func Register(r *mux.Router, store Store, catchUp CatchUp, wait time.Duration) {
	h := handlers{store: store, catchUp: catchUp, wait: wait}
	r.Handle("/posts/{id}/comments", httpapi.HandlerFunc(h.create)).
		Methods(http.MethodPost)
	r.Handle("/posts/{id}/comments", httpapi.HandlerFunc(h.list)).
		Methods(http.MethodGet)
}

type createRequest struct {
	Content *string `json:"content"`
}

type createResponse struct {
	ID      uuid.UUID `json:"id"`
	PostID  uuid.UUID `json:"post_id"`
	Content string    `json:"content"`
	Status  string    `json:"status"`
}

func (h handlers) create(w http.ResponseWriter, r *http.Request) error {
	postID, err := httpapi.ParseID("post id", mux.Vars(r)["id"])
	if err != nil {
		return err
	}

	var req createRequest
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return err
	}

	if req.Content == nil {
		return httpapi.BadRequest("missing_field", "content is required")
	}

	content, err := httpapi.Text("content", *req.Content, comments.MaxContentLength)
	if err != nil {
		return err
	}

	// The request is valid and whole: carry it out, the wait for its post
	// included, even if the client goes away now, so a stored comment
	// never gets an error response.
	ctx, cancel := httpapi.Detach(r, h.wait+httpapi.WriteTimeout)
	defer cancel()

	c, err := h.store.Create(ctx, postID, content)
	if errors.Is(err, comments.ErrUnknownPost) {
		if err = h.awaitPost(ctx, postID); err == nil {
			c, err = h.store.Create(ctx, postID, content)
		}
	}
	if errors.Is(err, comments.ErrUnknownPost) {
		return unknownPost(postID)
	}
	if err != nil {
		return err
	}

	httpapi.LogIfGone(r, "client went away before the answer; comment stored",
		"post_id", c.PostID, "comment_id", c.ID)
	httpapi.WriteJSON(w, http.StatusCreated, createResponse{
		ID: c.ID, PostID: c.PostID, Content: c.Content, Status: c.Status,
	})
	return nil
}

type listItem struct {
	ID      uuid.UUID `json:"id"`
	Content string    `json:"content"`
	Status  string    `json:"status"`
}

func (h handlers) list(w http.ResponseWriter, r *http.Request) error {
	postID, err := httpapi.ParseID("post id", mux.Vars(r)["id"])
	if err != nil {
		return err
	}

	ok, err := h.store.PostExists(r.Context(), postID)
	if err == nil && !ok {
		err = h.awaitPost(r.Context(), postID)
	}
	if errors.Is(err, comments.ErrUnknownPost) {
		return unknownPost(postID)
	}
	if err != nil {
		return err
	}

	list, err := h.store.List(r.Context(), postID)
	if err != nil {
		return err
	}

	out := make([]listItem, len(list))
	for i, c := range list {
		out[i] = listItem{ID: c.ID, Content: c.Content, Status: c.Status}
	}

	httpapi.WriteJSON(w, http.StatusOK, out)
	return nil
}

// awaitPost waits for the posts consumer to catch up and returns
// comments.ErrUnknownPost if the post is still unknown then. The outbox
// relay may not have published a post created a moment ago, so for an id
// minted within the wait (post ids are UUIDv7, which carry their creation
// time) it keeps catching up until the wait ends.
func (h handlers) awaitPost(ctx context.Context, postID uuid.UUID) error {
	wait, cancel := context.WithTimeout(ctx, h.wait)
	defer cancel()

	for {
		if err := h.catchUp(wait); err != nil && ctx.Err() == nil && wait.Err() == nil {
			slog.WarnContext(ctx, "posts consumer did not catch up",
				"post_id", postID, "error", err)
		}

		ok, err := h.store.PostExists(ctx, postID)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}

		if !mintedWithin(postID, h.wait, time.Now()) {
			return comments.ErrUnknownPost
		}

		select {
		case <-wait.Done():
			if ctx.Err() != nil {
				return ctx.Err()
			}

			return comments.ErrUnknownPost
		case <-time.After(recheckInterval):
		}
	}
}

// recheckInterval is the pause between two look-ups of a post that was
// created a moment ago and is not known yet.
const recheckInterval = 50 * time.Millisecond

// mintedWithin reports whether id is a UUIDv7 whose timestamp lies less
// than d before now, or after now by less than d (clocks differ between
// hosts).
func mintedWithin(id uuid.UUID, d time.Duration, now time.Time) bool {
	if id.Version() != 7 {
		return false
	}

	sec, nsec := id.Time().UnixTime()
	age := now.Sub(time.Unix(sec, nsec))

	return age > -d && age < d
}

func unknownPost(id uuid.UUID) error {
	return httpapi.NotFound("post " + id.String() + " does not exist")
}
