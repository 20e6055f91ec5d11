# Convenience targets; each calls the scripts the README names.
.PHONY: build demo test bench bench-transcribe bench-calls audio

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

audio: build
	scripts/make-audio.sh
