// Package httpport serves the query-svc HTTP API.
package httpport

import (
	"context"
	"errors"
	"net/http"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/kafkablog/blog/query-svc/internal/readmodel"
	"github.com/kafkablog/blog/shared/httpapi"
)

// Reader is the read-model access the handlers need.
type Reader interface {
	List(ctx context.Context, limit int, before *uuid.UUID) ([]readmodel.Post, error)
	Get(ctx context.Context, id uuid.UUID) (readmodel.Post, error)
}

type handlers struct {
	reader Reader
}

// Register adds GET /posts and GET /posts/{id} to r, and GET
// /posts/events, a stream of server-sent events that announces each
// change of the read model, when events is not nil.
func Register(r *mux.Router, reader Reader, events http.Handler) {
	h := handlers{reader: reader}
	r.Handle("/posts", httpapi.HandlerFunc(h.list)).Methods(http.MethodGet)
	if events != nil {
		// Before /posts/{id}, which would take "events" for an id.
		r.Handle("/posts/events", events).Methods(http.MethodGet)
	}
	r.Handle("/posts/{id}", httpapi.HandlerFunc(h.get)).Methods(http.MethodGet)
}

func (h handlers) list(w http.ResponseWriter, r *http.Request) error {
	limit, err := httpapi.Limit(r, 50, 500)
	if err != nil {
		return err
	}

	var before *uuid.UUID
	if v := r.URL.Query().Get("before"); v != "" {
		id, err := httpapi.ParseID("before", v)
		if err != nil {
			return err
		}
		before = &id
	}

	posts, err := h.reader.List(r.Context(), limit, before)
	if errors.Is(err, readmodel.ErrNotFound) {
		return httpapi.BadRequest("invalid_cursor",
			"before names post "+before.String()+", which does not exist")
	}
	if err != nil {
		return err
	}

	httpapi.WriteJSON(w, http.StatusOK, posts)
	return nil
}

func (h handlers) get(w http.ResponseWriter, r *http.Request) error {
	id, err := httpapi.ParseID("post id", mux.Vars(r)["id"])
	if err != nil {
		return err
	}

	post, err := h.reader.Get(r.Context(), id)
	if errors.Is(err, readmodel.ErrNotFound) {
		return httpapi.NotFound("post " + id.String() + " does not exist")
	}
	if err != nil {
		return err
	}

	httpapi.WriteJSON(w, http.StatusOK, post)
	return nil
}
