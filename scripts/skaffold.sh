#!/usr/bin/env bash
# Build the skaffold binary from its Go module source into
# .cache/skaffold/VERSION/skaffold, unless it is already there, and print its
# path as the last line of stdout. Progress goes to stderr.
#
# `go install` does not work for skaffold because its go.mod has replace
# directives, so this downloads the module through the Go module proxy,
# copies it to a writable folder and runs `go build ./cmd/skaffold` there.
# The first build takes minutes and fills the Go build cache with several GB.
#
# environment:
#   SKAFFOLD_VERSION    module version to build (default: v2.16.1)
#   SKAFFOLD_CACHE_DIR  parent of the per-version folders
#                       (default: REPO_ROOT/.cache/skaffold)
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly REPO_ROOT
readonly MODULE=github.com/GoogleContainerTools/skaffold/v2
readonly VERSION=${SKAFFOLD_VERSION:-v2.16.1}
readonly CACHE_DIR=${SKAFFOLD_CACHE_DIR:-$REPO_ROOT/.cache/skaffold}
readonly BINARY=$CACHE_DIR/$VERSION/skaffold

die() {
	echo "skaffold.sh: $*" >&2
	exit 1
}

log() {
	echo "skaffold.sh: $*" >&2
}

if [[ -x $BINARY ]]; then
	echo "$BINARY"
	exit 0
fi

command -v go >/dev/null || die "go not found on PATH: install Go 1.24 or later"

# The repository's go.work must not take part in building an outside module.
export GOWORK=off

log "downloading $MODULE@$VERSION"
module_dir=$(go mod download -json "$MODULE@$VERSION" |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[[ -n $module_dir && -d $module_dir ]] ||
	die "go mod download returned no module folder for $MODULE@$VERSION"

work_dir=$(mktemp -d "${TMPDIR:-/tmp}/skaffold-build.XXXXXX")
trap 'rm -rf "$work_dir"' EXIT

# The module cache is read-only, and go build may need to write go.sum.
cp -R "$module_dir/." "$work_dir/src"
chmod -R u+w "$work_dir/src"

# Build next to the final path and rename, so an interrupted build never
# leaves a file that the check at the top would accept.
mkdir -p "$(dirname "$BINARY")"
partial=$BINARY.partial.$$
trap 'rm -rf "$work_dir" "$partial"' EXIT

log "building $MODULE@$VERSION (the first build takes several minutes)"
started=$SECONDS
(
	cd "$work_dir/src"
	go build -trimpath \
		-ldflags "-s -w -X $MODULE/pkg/skaffold/version.version=$VERSION" \
		-o "$partial" ./cmd/skaffold
)
mv "$partial" "$BINARY"
log "built $BINARY in $((SECONDS - started)) s"
echo "$BINARY"
