# Each target is one command; the scripts say what they do.
.PHONY: run test test-sanitize bench format

## Build the release binary and run it on http://127.0.0.1:8080 (installs libmicrohttpd if missing).
run:
	@.ci/serve

## Lint, build with warnings as errors, and run every test (installs what the tests need).
test:
	@.ci/test

## The Swift tests under AddressSanitizer (leaks included), then ThreadSanitizer, each in its own build.
test-sanitize:
	@.ci/test-sanitize

## Benchmarks against a bare libmicrohttpd server; prints the figures.
bench:
	@Benchmarks/run

## Format the Swift sources in place.
format:
	swift format --in-place --recursive Package.swift Sources Tests
