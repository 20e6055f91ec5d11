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
# One test at a time: many tests run real decoders, synthesis and servers, and on a small machine tests running side
# by side starve each other's servers past their deadlines. A test that needs concurrency makes its own.
swift test --skip-build --no-parallel "$@"
