#!/usr/bin/env bash
# Installs the Debian packages Hotline builds and runs with; with --tests also those the tests need (PostgreSQL,
# Chromium and its WebDriver for the QA page). Idempotent; needs root (or sudo).
set -euo pipefail
packages=(
  pkg-config
  libpocketsphinx-dev libsphinxbase-dev pocketsphinx-en-us   # recognition (PocketSphinx 5prealpha, en-us model)
  libsndfile1-dev                                            # audio files
  libespeak-ng-dev espeak-ng-data                            # speech synthesis
  pocketsphinx-testdata pocketsphinx                         # tests and benchmark: real recordings, pocketsphinx_continuous
  libsqlite3-dev                                             # the embedded transcript store (GRDB)
)
if [ "${1:-}" = "--tests" ]; then
  packages+=(postgresql postgresql-client chromium chromium-driver fonts-dejavu-core)
fi
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing: ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
