// Package migrations embeds the comments-svc database schema.
package migrations

import "embed"

// FS holds the goose migrations, applied at start-up in version order.
//
//go:embed *.sql
var FS embed.FS
