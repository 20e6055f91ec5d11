#!/usr/bin/env bash
# Sets everything up and runs Hotline on the shipped samples with its embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release 2>&1 | grep -E "error|warning: |Compiling hotline|Build complete" || true
hotline=.build/release/hotline
[ -x "$hotline" ] || { echo "build failed" >&2; exit 1; }

echo; echo "== hotline transcribe Audio/ (telephone recordings; the stereo call is split into caller and bot)"
"$hotline" transcribe Audio/ --speakers caller,bot

echo; echo "== hotline transcribe --format srt (a real recording from pocketsphinx-testdata)"
"$hotline" transcribe --format srt /usr/share/pocketsphinx/test/data/goforward.raw

echo; echo "== hotline eval: word error rate on the LibriVox sentences"
"$hotline" eval --reference /usr/share/pocketsphinx/test/data/librivox/transcription /usr/share/pocketsphinx/test/data/librivox

echo; echo "== hotline say: a telephone-ready prompt (8 kHz μ-law WAV)"
out=$(mktemp -d)/prompt.wav
"$hotline" say "Thank you for calling. Your call is important to us." --audio-format ulaw -o "$out"
ls -l "$out"
