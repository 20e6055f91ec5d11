# Convenience targets; each calls the scripts the README names.
.PHONY: build demo test bench bench-transcribe bench-calls bench-serve bench-store bench-ledger bench-soak bench-cards bench-understanding audio

build:
	swift build -c release

demo:
	scripts/demo.sh

test:
	scripts/test.sh

# Benchmarks print figures and comparisons; they are not pass/fail tests.
bench: bench-transcribe

bench-transcribe: build
	.build/release/hotline bench transcribe

bench-calls: build
	.build/release/hotline bench calls

bench-serve: build
	.build/release/hotline bench serve

# Memory over a long run: RSS sampled while callers stay on the line, its slope once the caches are full.
bench-soak: build
	.build/release/hotline bench soak

# Masking of spoken card numbers (natural voices through the phone channel; hibari-tts and festvox-kdlpc16k).
bench-cards: build
	.build/release/hotline bench cards

# Spoken intent accuracy on natural voices (hibari-tts, festival ked) through the telephone channel.
bench-understanding: build
	.build/release/hotline bench understanding

# What keeping each call's record (the ledger, QA rules) costs per event and per call.
bench-ledger: build
	.build/release/hotline bench ledger

# Store throughput and live-feed latency on SQLite and on a scratch PostgreSQL database (started from Debian's package).
bench-store: build
	url=$$(scripts/start-postgres.sh) && base=$${url%/*} && \
	psql "$$url" -qc "DROP DATABASE IF EXISTS hotline_bench" -qc "CREATE DATABASE hotline_bench" && \
	.build/release/hotline bench store --postgres "$$base/hotline_bench"

audio: build
	scripts/make-audio.sh
