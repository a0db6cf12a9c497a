#!/bin/bash
# Runs every fuzz target of the given packages for FUZZTIME each.
#
# Go 1.26's fuzzing coordinator can fail a target with a bare "context
# deadline exceeded" when -fuzztime runs out while a worker is mid-input
# (go.dev/issue/75804, fixed in Go 1.27). That failure writes no failing
# input, so a target that fails that way without a new file under
# testdata/fuzz is run once more; any other failure stops the run.
#
# Minimizing a new input may take up to FUZZMINIMIZETIME (go test's default,
# 60s, is longer than a whole short run). Workers that minimize run no new
# inputs: with the default, two 30 s runs of FuzzContent showed 0 execs/s
# in 7 and 8 of their ten progress reports and found 1 and 2 new inputs;
# with 5s, in 4 and 1 reports, finding 11 and 9.
set -euo pipefail
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-20s}
FUZZMINIMIZETIME=${FUZZMINIMIZETIME:-5s}

# inputs counts the saved inputs of a target (none before the first crash).
inputs() { { find "$1" -type f 2>/dev/null || true; } | wc -l; }

# One log for every run, removed however the script ends.
log=$(mktemp)
trap 'rm -f "$log"' EXIT

for pkg in $("$GO" list "$@"); do
	dir=$("$GO" list -f '{{.Dir}}' "$pkg")
	for t in $("$GO" test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		for attempt in 1 2; do
			echo "fuzz $pkg $t"
			before=$(inputs "$dir/testdata/fuzz/$t")
			if "$GO" test -run '^$' -fuzz "^$t\$" -fuzztime "$FUZZTIME" -fuzzminimizetime "$FUZZMINIMIZETIME" "$pkg" 2>&1 | tee "$log"; then
				break
			fi
			after=$(inputs "$dir/testdata/fuzz/$t")
			if [ "$attempt" = 1 ] && [ "$after" = "$before" ] && grep -q '^    context deadline exceeded$' "$log"; then
				echo "fuzz $pkg $t: coordinator deadline race (go.dev/issue/75804), no failing input written: once more"
				continue
			fi
			exit 1
		done
	done
done
