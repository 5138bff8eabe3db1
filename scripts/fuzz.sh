#!/usr/bin/env bash
# Runs every go fuzz target in the module for FUZZTIME each (default 10s): the short form used by `make fuzz`.
set -euo pipefail
FUZZTIME=${FUZZTIME:-10s}
status=0
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  targets=$(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u || true)
  for t in $targets; do
    echo "== $pkg $t ($FUZZTIME)"
    if ! go test -run '^$' -fuzz "^${t}\$" -fuzztime "$FUZZTIME" "$pkg"; then status=1; fi
  done
done
exit $status
