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

echo; echo "== hotline intent: what the sample callers want (bank flow; an uncertain request is confirmed before the bot acts)"
"$hotline" intent Audio/caller-lost-card.wav Audio/caller-balance.wav Audio/caller-agent.wav

echo; echo "== hotline simulate: a bot call from a caller recording"
"$hotline" simulate Audio/caller-lost-card.wav --fast --flow Models/flows/bank.yaml

echo; echo "== hotline chat: a balance and a transfer, typed, answered by the built-in SAMPLE bank (demo accounts)"
echo "   (a question in the middle of the transfer, a correction in place, then an unrelated request)"
printf "what's my balance\nyes\ni'd like to move a hundred from savings to checking\nwhat time do you close on saturday\nno, make it two hundred\nyes\nyes\ndo you sell car insurance\nno thanks\n" | "$hotline" chat

echo; echo "== hotline flow test: the bank flow's conversation tests"
"$hotline" flow test Models/flows/bank.stories.yaml
