#!/usr/bin/env bash
# The deploy build's budgets (docs/performance.md, "Deploy build"): `sam build` of every
# function from a clean target directory, then again after a one-line change in shared/,
# timed; then each arm64 bootstrap's size against the floor's, built the same way in the same
# target directory. Prints each figure beside its budget; exits non-zero on a miss.
set -euo pipefail
cd "$(dirname "$0")/.."
PATH="$(scripts/deploy-tools.sh):$PATH"
export SAM_CLI_TELEMETRY=0
export CARGO_TARGET_DIR="$PWD/target/bench-build"
rm -rf "$CARGO_TARGET_DIR"
build_dir="$CARGO_TARGET_DIR/sam"
misses=()

timed_build() {
  local start end
  start=$(date +%s)
  sam build --build-dir "$build_dir" >"$CARGO_TARGET_DIR/$1.log" 2>&1 \
    || { tail -40 "$CARGO_TARGET_DIR/$1.log" >&2; echo "sam build failed" >&2; exit 1; }
  end=$(date +%s)
  echo $((end - start))
}

mkdir -p "$CARGO_TARGET_DIR"
clean=$(timed_build clean)
# The one-line change: a comment appended to the shared crate's root, undone on any exit.
cp shared/src/lib.rs "$CARGO_TARGET_DIR/lib.rs.orig"
trap 'cp "$CARGO_TARGET_DIR/lib.rs.orig" shared/src/lib.rs' EXIT
echo "// bench-build: a one-line change" >>shared/src/lib.rs
incremental=$(timed_build incremental)
cp "$CARGO_TARGET_DIR/lib.rs.orig" shared/src/lib.rs
trap - EXIT

# Sets $within for a figure against its budget, noting a miss.
check() { if [ "$1" -le "$2" ]; then within=yes; else within=no; misses+=("$3"); fi; }
echo "| deploy build (sam build, $(nproc) cores) | seconds | budget | within |"
echo "|---|---|---|---|"
check "$clean" 720 "clean build"
echo "| from clean | $clean | 720 | $within |"
check "$incremental" 300 "incremental build"
echo "| after a one-line change in shared/ | $incremental | 300 | $within |"

cargo lambda build --release --arm64 --package floor >"$CARGO_TARGET_DIR/floor.log" 2>&1 \
  || { tail -20 "$CARGO_TARGET_DIR/floor.log" >&2; exit 1; }
floor=$(stat -c %s "$CARGO_TARGET_DIR/lambda/floor/bootstrap")
# Functions that check or set passwords link argon2id (and zxcvbn's dictionaries); the
# ones that send mail link SES v2 and the templates.
hashing=" create-user patch-user authenticate change-password confirm-password-reset "
echo
echo "| arm64 bootstrap | bytes | over the floor | budget | within |"
echo "|---|---|---|---|---|"
echo "| floor | $floor | | | |"
for dir in "$build_dir"/*Function; do
  logical=$(basename "$dir")
  name=$(printf '%s' "${logical%Function}" | sed -E 's/([a-z0-9])([A-Z])/\1-\2/g' | tr '[:upper:]' '[:lower:]')
  bytes=$(stat -c %s "$dir/bootstrap")
  over=$((bytes - floor))
  if [[ $hashing == *" $name "* ]] || grep -q 'sending_mail' "functions/$name/src/main.rs"; then
    budget=2500000
  else
    budget=1000000
  fi
  check "$over" "$budget" "$name size"
  printf '| %s | %s | +%s MB | +%s MB | %s |\n' "$name" "$bytes" \
    "$(awk "BEGIN{printf \"%.2f\", $over/1e6}")" "$(awk "BEGIN{printf \"%.1f\", $budget/1e6}")" \
    "$within"
done
if [ ${#misses[@]} -gt 0 ]; then
  echo "over budget: ${misses[*]}" >&2
  exit 1
fi
