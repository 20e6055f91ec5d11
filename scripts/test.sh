#!/usr/bin/env bash
# Runs the whole test suite (installs the Debian packages the tests need and starts PostgreSQL first).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --tests
# Both transcript stores run the same tests: PostgreSQL on loopback from Debian's package.
HOTLINE_TEST_POSTGRES_URL="${HOTLINE_TEST_POSTGRES_URL:-$(scripts/start-postgres.sh)}"
case "$HOTLINE_TEST_POSTGRES_URL" in
  postgres://*|postgresql://*) ;;
  *) echo "not a PostgreSQL URL for the tests: '$HOTLINE_TEST_POSTGRES_URL'" >&2; exit 1 ;;
esac
export HOTLINE_TEST_POSTGRES_URL HOTLINE_REQUIRE_POSTGRES=1
swift build --build-tests
swift test --skip-build "$@"
