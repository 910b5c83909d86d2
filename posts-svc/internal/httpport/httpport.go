// Package httpport serves the posts-svc HTTP API.
package httpport

import (
	"context"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/kafkablog/blog/posts-svc/internal/posts"
	"github.com/kafkablog/blog/shared/httpapi"
)

// Store is the part of the posts store that the handlers use.
type Store interface {
	Create(ctx context.Context, title string) (posts.Post, error)
	List(ctx context.Context, limit int) ([]posts.Post, error)
}

type handlers struct {
	store Store
}

// Register adds POST /posts, POST /posts/create and GET /posts to r.
func Register(r *mux.Router, store Store) {
	h := handlers{store: store}
	r.Handle("/posts", httpapi.HandlerFunc(h.create)).Methods(http.MethodPost)
	r.Handle("/posts/create", httpapi.HandlerFunc(h.create)).
		Methods(http.MethodPost)
	r.Handle("/posts", httpapi.HandlerFunc(h.list)).Methods(http.MethodGet)
}

type createRequest struct {
	Title *string `json:"title"`
}

func (h handlers) create(w http.ResponseWriter, r *http.Request) error {
	var req createRequest
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return err
	}

	if req.Title == nil {
		return httpapi.BadRequest("missing_field", "title is required")
	}

	title, err := httpapi.Text("title", *req.Title, posts.MaxTitleLength)
	if err != nil {
		return err
	}

	// The request is valid and whole: carry it out even if the client
	// goes away now, so a stored post never gets an error response.
	ctx, cancel := httpapi.Detach(r, httpapi.WriteTimeout)
	defer cancel()

	p, err := h.store.Create(ctx, title)
	if err != nil {
		return err
	}

	httpapi.LogIfGone(r, "client went away before the answer; post stored",
		"post_id", p.ID)
	httpapi.WriteJSON(w, http.StatusCreated, p)
	return nil
}

func (h handlers) list(w http.ResponseWriter, r *http.Request) error {
	limit, err := httpapi.Limit(r, 50, 500)
	if err != nil {
		return err
	}

	list, err := h.store.List(r.Context(), limit)
	if err != nil {
		return err
	}

	httpapi.WriteJSON(w, http.StatusOK, list)
	return nil
}
