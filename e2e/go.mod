module github.com/kafkablog/blog/e2e

go 1.26.0

require github.com/kafkablog/blog/shared v0.0.0

replace github.com/kafkablog/blog/shared => ../shared
