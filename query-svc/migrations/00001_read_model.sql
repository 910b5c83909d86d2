-- +goose Up
-- The read model: built from blog.posts and blog.comments alone, so it can
-- be emptied and rebuilt by replaying the log.
CREATE TABLE posts (
    id         uuid        PRIMARY KEY,
    title      text        NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE INDEX posts_created_at_idx ON posts (created_at DESC, id DESC);

-- A comment may arrive before its post, so post_id has no foreign key.
-- created_at is null only while a CommentUpdated has arrived without its
-- CommentCreated.
CREATE TABLE comments (
    id         uuid        PRIMARY KEY,
    post_id    uuid        NOT NULL,
    content    text        NOT NULL,
    status     text        NOT NULL,
    version    integer     NOT NULL,
    created_at timestamptz
);

CREATE INDEX comments_post_id_idx ON comments (post_id, created_at, id);

-- +goose Down
DROP TABLE comments;
DROP TABLE posts;
