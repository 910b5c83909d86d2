-- +goose Up
-- One verdict per judged comment version. The primary key makes a
-- redelivered CommentCreated a no-op.
CREATE TABLE moderations (
    comment_id uuid        NOT NULL,
    version    integer     NOT NULL,
    post_id    uuid        NOT NULL,
    status     text        NOT NULL CHECK (status IN ('approved', 'rejected')),
    reason     text        NOT NULL,
    judged_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (comment_id, version)
);

-- +goose Down
DROP TABLE moderations;
