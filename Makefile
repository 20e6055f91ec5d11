# Convenience targets; each calls the scripts the README names.
.PHONY: build demo test bench bench-transcribe bench-calls bench-serve audio

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

audio: build
	scripts/make-audio.sh
