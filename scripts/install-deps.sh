#!/usr/bin/env bash
# Install what the tests need on a Debian machine: kcat, the PostgreSQL
# server binaries, Java and Maven for the Kafka broker, and the Kafka jars.
# Packages that are already present are skipped, and apt is not touched at
# all when nothing is missing. Needs root (or sudo) only when it installs.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly REPO_ROOT

# Debian packages still to install, collected before one apt-get run.
missing_packages=()
apt_updated=false

die() {
	echo "install-deps.sh: $*" >&2
	exit 1
}

log() {
	echo "install-deps.sh: $*" >&2
}

as_root() {
	if ((EUID == 0)); then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo "$@"
	else
		die "installing packages needs root: run as root or install sudo"
	fi
}

# Install Debian packages, running apt-get update once per run first.
apt_install() {
	command -v apt-get >/dev/null ||
		die "apt-get not found: install these packages by hand: $*"
	if [[ $apt_updated == false ]]; then
		as_root apt-get update -q
		apt_updated=true
	fi
	log "installing $*"
	as_root env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q --no-install-recommends "$@"
}

postgres_installed() {
	compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}

collect_test_packages() {
	command -v kcat >/dev/null || missing_packages+=(kcat)
	command -v curl >/dev/null || missing_packages+=(curl)
	# The browser test drives Debian's Chromium with playwright-core.
	[[ -x /usr/bin/chromium ]] || missing_packages+=(chromium)
	# NOTE: Debian's postgresql package also creates a cluster "main" on
	# port 5432 and may start it. The tests use scripts/pg.sh clusters only.
	postgres_installed || missing_packages+=(postgresql)
	# The Kafka broker needs Java 17 or newer (Debian 12's default), and
	# scripts/kafka.sh fetch resolves its jars with Maven.
	command -v java >/dev/null || missing_packages+=(default-jre-headless)
	command -v mvn >/dev/null || missing_packages+=(maven)
	return 0
}

# Browser and client dependencies for the front-end tests.
# Install the client's npm packages when package-lock.json changed since
# the last install. Chromium comes from Debian, in collect_test_packages.
install_client_deps() {
	local client=$REPO_ROOT/client
	[[ -f $client/package-lock.json ]] || return 0
	command -v npm >/dev/null || die "npm not found: install Node.js 20 or newer"
	if [[ ! -f $client/node_modules/.package-lock.json ||
		$client/package-lock.json -nt $client/node_modules/.package-lock.json ]]; then
		log "installing the client's npm packages"
		npm --prefix "$client" ci --no-audit --no-fund
	fi
}

main() {
	collect_test_packages
	if ((${#missing_packages[@]} > 0)); then
		apt_install "${missing_packages[@]}"
	fi
	install_client_deps
	"$REPO_ROOT/scripts/kafka.sh" fetch
}

main "$@"
