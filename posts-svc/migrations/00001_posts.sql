-- +goose Up
CREATE TABLE posts (
    id         uuid        PRIMARY KEY,
    title      text        NOT NULL CHECK (title <> ''),
    created_at timestamptz NOT NULL
);

CREATE INDEX posts_created_at_idx ON posts (created_at DESC, id DESC);

-- +goose Down
DROP TABLE posts;
