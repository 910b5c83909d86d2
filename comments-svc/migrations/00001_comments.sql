-- +goose Up
-- Posts known from PostCreated events on blog.posts.
CREATE TABLE known_posts (
    id uuid PRIMARY KEY
);

CREATE TABLE comments (
    id         uuid        PRIMARY KEY,
    post_id    uuid        NOT NULL REFERENCES known_posts (id),
    content    text        NOT NULL CHECK (content <> ''),
    status     text        NOT NULL
               CHECK (status IN ('pending', 'approved', 'rejected')),
    version    integer     NOT NULL CHECK (version >= 1),
    created_at timestamptz NOT NULL
);

CREATE INDEX comments_post_id_idx ON comments (post_id, created_at, id);

-- +goose Down
DROP TABLE comments;
DROP TABLE known_posts;
