#!/usr/bin/env bash
# Summarize a run-bats.sh results dir (<stamp>/<runtime>/<file>.tap):
# per file total/passed/failed/skipped for each runtime, then the failing cases.
set -euo pipefail
dir=${1:?usage: summarize.sh RESULTS_DIR}
for rtdir in "$dir"/*/; do
	rtdir=${rtdir%/}
	[ -e "$rtdir/VERSION" ] || continue
	rt=$(basename "$rtdir")
	printf '\n### %s (%s), %ss\n' "$rt" "$(head -1 "$rtdir/VERSION" 2>/dev/null)" "$(cat "$rtdir/total.secs" 2>/dev/null || echo '?')"
	printf '%-28s %6s %6s %6s %6s %6s\n' file total pass fail skip secs
	T=0 P=0 F=0 S=0
	for tap in "$rtdir"/*.tap; do
		f=$(basename "$tap" .tap)
		read -r n p fl s < <(awk '
			/^1\.\.[0-9]+$/ && !plan { plan = substr($0, 4) + 0 }
			/^ok / { if ($0 ~ / # skip/) s++; else p++ }
			/^not ok / { f++ }
			END { if (plan == "") plan = p + s + f
			      # cases the plan announced that never reported (aborted/timed out) count as failed
			      print plan + 0, p + 0, plan - p - s, s + 0 }' "$tap")
		printf '%-28s %6d %6d %6d %6d %6s\n' "$f" "$n" "$p" "$fl" "$s" "$(cat "$rtdir/$f.secs" 2>/dev/null)"
		T=$((T + n)) P=$((P + p)) F=$((F + fl)) S=$((S + s))
	done
	printf '%-28s %6d %6d %6d %6d\n' TOTAL "$T" "$P" "$F" "$S"
done
for rtdir in "$dir"/*/; do
	rtdir=${rtdir%/}
	[ -e "$rtdir/VERSION" ] || continue
	printf '\n### failing cases: %s\n' "$(basename "$rtdir")"
	grep -H -E '^not ok ' "$rtdir"/*.tap | sed "s|^$rtdir/||; s|\.tap:not ok [0-9]* |: |" || true
done
