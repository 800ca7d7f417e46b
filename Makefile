.PHONY: dev test bench bench-purge lint purge
# Runs the API locally: moto, the table, and the local API server on 127.0.0.1:3000.
dev:
	scripts/dev.sh

# Runs every test against its own moto, plus cfn-lint and the Lambda runtime tests.
test:
	scripts/test.sh

# Runs the scheduled purge once, as a Lambda process, against the stack `make dev` started.
purge:
	scripts/purge.sh

# Runs the operation benchmarks against their own moto (results: BENCHMARKS.md).
bench:
	scripts/bench.sh

# The scheduled purge at scale: 100,000 users, 1,000 of them due (results: BENCHMARKS.md).
bench-purge:
	scripts/with-moto.sh cargo bench -p local-api --bench purge

lint:
	cargo fmt --check
	cargo clippy --workspace --all-targets -- -D warnings
