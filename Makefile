.PHONY: dev test bench lint
# Runs the API locally: moto, the table, and the local API server on 127.0.0.1:3000.
dev:
	scripts/dev.sh

# Runs every test against its own moto, plus cfn-lint and the Lambda runtime tests.
test:
	scripts/test.sh

# Runs the operation benchmarks against their own moto (results: BENCHMARKS.md).
bench:
	scripts/bench.sh

lint:
	cargo fmt --check
	cargo clippy --workspace --all-targets -- -D warnings
