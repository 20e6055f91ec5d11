#!/usr/bin/env bash
# Rebuilds the sample recordings in Audio/ (see Audio/README.md). Needs a built hotline, sox and
# Debian's pocketsphinx-testdata. The results are committed; nothing at build or test time runs this.
set -euo pipefail
cd "$(dirname "$0")/.."
hotline=${HOTLINE:-.build/release/hotline}
data=/usr/share/pocketsphinx/test/data
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Caller lines, synthesized and put through an 8 kHz μ-law telephone leg.
say() { "$hotline" say "$2" --voice "${3:-en-us}" --rate "${4:-160}" --audio-format ulaw -o "Audio/$1.wav"; }
say caller-lost-card "Hi, I think I lost my debit card yesterday, can you block it please?"
say caller-balance "How much money do I have in my checking account?" en-us 150
say caller-agent "I just want to talk to a real person." en-us+f3 170
say bot-greeting "Thank you for calling First Community Bank. How can I help you today?" en-us 165

# A real human sentence (LibriVox, public domain) over the same telephone leg.
sox "$data/librivox/sense_and_sensibility_01_austen_64kb-0880.wav" -r 8000 -e u-law Audio/librivox-0880-phone.wav

# A two-channel call: the caller (LibriVox sentences) on the left, the bot (espeak-ng) on the right, taking turns.
"$hotline" say "Thank you for calling. How can I help you today?" --audio-format wav8k -o "$tmp/bot1.wav"
"$hotline" say "I am sorry to hear that. Let me connect you to an agent." --audio-format wav8k -o "$tmp/bot2.wav"
for id in 0880 0930; do
  sox "$data/librivox/sense_and_sensibility_01_austen_64kb-$id.wav" -r 8000 -b 16 "$tmp/caller-$id.wav"
done
sox -n -r 8000 -b 16 -c 1 "$tmp/gap.wav" trim 0 0.6
len() { soxi -D "$1"; }
# Left: silence while the bot speaks, then the caller; right: the bot, then silence while the caller speaks.
sox "$tmp/gap.wav" "$tmp/bot1.wav" "$tmp/caller-0880.wav" "$tmp/bot2.wav" "$tmp/caller-0930.wav" "$tmp/gap.wav" "$tmp/timeline.wav"
sox "$tmp/bot1.wav" -n stat 2>/dev/null || true
silence() { sox -n -r 8000 -b 16 -c 1 "$2" trim 0 "$1"; }
silence "$(len "$tmp/bot1.wav")" "$tmp/s-bot1.wav"
silence "$(len "$tmp/bot2.wav")" "$tmp/s-bot2.wav"
silence "$(len "$tmp/caller-0880.wav")" "$tmp/s-c1.wav"
silence "$(len "$tmp/caller-0930.wav")" "$tmp/s-c2.wav"
sox "$tmp/gap.wav" "$tmp/s-bot1.wav" "$tmp/caller-0880.wav" "$tmp/s-bot2.wav" "$tmp/caller-0930.wav" "$tmp/gap.wav" "$tmp/left.wav"
sox "$tmp/gap.wav" "$tmp/bot1.wav" "$tmp/s-c1.wav" "$tmp/bot2.wav" "$tmp/s-c2.wav" "$tmp/gap.wav" "$tmp/right.wav"
sox -M "$tmp/left.wav" "$tmp/right.wav" -e u-law Audio/call-stereo.wav
ls -l Audio/*.wav
