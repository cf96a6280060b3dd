#!/usr/bin/env bash
# bench/run.sh: the benchmark behind BENCHMARKS.md. It builds the binaries,
# then runs the same scim-loadgen scenarios side by side against
#   - scim-baseline: a bare in-memory SCIM server on elimity-com/scim, and
#   - scim-bridge (default configuration, REST mode) on the Sigma emulator
#     (cmd/sigmafake), as separate processes on loopback,
# at 1,000 and 100,000 users, and once more against an emulator with a
# capacity; then writes BENCHMARKS.md (or $OUT) with the figures, the ratios
# and the machine. Everything listens on 127.0.0.1 and stops at the end.
#
#   bench/run.sh                 # ~10 minutes on 2 cores
#   OUT=/tmp/b.md bench/run.sh
set -euo pipefail

cd "$(dirname "$0")/.."
OUT=${OUT:-BENCHMARKS.md}
BIG=${BIG:-100000}     # members of the large org
CAPACITY=${CAPACITY:-150} # requests/s of the capacity-limited emulator
MEMLIMIT=${MEMLIMIT:-200MiB} # GOMEMLIMIT of the second large-org bridge
PUSH=${PUSH:-10000}    # members of the pushed group (in an org of PUSH+2000)
work=$(mktemp -d)
bin=$work/bin
results=${RESULTS:-$work/results.jsonl} # keep them with RESULTS=file; REPORT_ONLY=1 rewrites $OUT from them
pids=()
starts=0
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
calc() { awk "BEGIN { print $1 }"; }

if [ -z "${REPORT_ONLY:-}" ]; then
rm -f "$results" "$results.env"
echo "building into $bin" >&2
mkdir -p "$bin"
go build -o "$bin" ./cmd/scim-bridge ./cmd/sigmafake ./cmd/scim-baseline ./cmd/scim-loadgen

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

wait_http() { # url [header]
	for _ in $(seq 1 600); do
		if curl -fsS -o /dev/null ${2:+-H "$2"} "$1" 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "timeout waiting for $1" >&2
	return 1
}

# start_baseline USERS -> sets BASE_URL, BASE_PID
start_baseline() {
	local port; port=$(free_port)
	"$bin/scim-baseline" -listen "127.0.0.1:$port" -users "$1" >"$work/baseline.log" 2>&1 &
	BASE_PID=$!; pids+=("$BASE_PID")
	BASE_URL="http://127.0.0.1:$port/scim/v2"
	wait_http "$BASE_URL/ServiceProviderConfig" "Authorization: Bearer baseline"
}

# start_bridge MEMBERS [CAPACITY] -> sets BR_URL, BR_METRICS, BR_PID, BR_TOKEN, BR_READY_S, BR_LIST_CALLS
start_bridge() {
	local eport sport aport
	eport=$(free_port); sport=$(free_port); aport=$(free_port)
	"$bin/sigmafake" -listen "127.0.0.1:$eport" -members "$1" -teams 5 -capacity "${2:-0}" -token-rate 1 >"$work/sigmafake.log" 2>&1 &
	FAKE_PID=$!; pids+=("$FAKE_PID")
	for _ in $(seq 1 600); do grep -q "SCIM base URL" "$work/sigmafake.log" 2>/dev/null && break; sleep 0.1; done
	export SCIM_BRIDGE_LISTEN="127.0.0.1:$sport" SCIM_BRIDGE_ADMIN_LISTEN="127.0.0.1:$aport"
	starts=$((starts + 1))
	export SCIM_BRIDGE_STORE="sqlite:$work/bridge-$starts.db" # a fresh store (and token) each time
	export SCIM_BRIDGE_SIGMA_API_URL="http://127.0.0.1:$eport" SCIM_BRIDGE_SIGMA_MODE=rest
	export SCIM_BRIDGE_SIGMA_CLIENT_ID=fake-client-id SCIM_BRIDGE_SIGMA_CLIENT_SECRET=fake-client-secret
	export SCIM_BRIDGE_LOG_LEVEL=warn
	BR_TOKEN=$("$bin/scim-bridge" token create --name bench 2>/dev/null | tail -1)
	local t0; t0=$(date +%s.%N)
	"$bin/scim-bridge" serve >"$work/bridge.log" 2>&1 &
	BR_PID=$!; pids+=("$BR_PID")
	wait_http "http://127.0.0.1:$aport/readyz"
	BR_READY_S=$(calc "$(date +%s.%N) - $t0")
	BR_URL="http://127.0.0.1:$sport/scim/v2"
	BR_METRICS="http://127.0.0.1:$aport/metrics"
	BR_LIST_CALLS=$(curl -fsS "$BR_METRICS" | awk '/^scim_bridge_sigma_requests_total\{/ && /endpoint="\/v2\/members"/ && /method="GET"/ {s+=$NF} END {print s+0}')
	BR_TEAM_CALLS=$(curl -fsS "$BR_METRICS" | awk '/^scim_bridge_sigma_requests_total\{/ && /endpoint="\/v2\/teams/ && /method="GET"/ {s+=$NF} END {print s+0}')
}

stop_all() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	pids=()
}

lg() { # name url token [flags...]
	local name=$1 url=$2 token=$3; shift 3
	"$bin/scim-loadgen" -name "$name" -url "$url" -token "$token" -json "$results" -prefix "b$RANDOM" "$@" >&2 || echo "  (scim-loadgen reported failures: see above)" >&2
}

# ---- 1,000 users -------------------------------------------------------
echo "== 1,000 users" >&2
start_baseline 1000
lg baseline-1k "$BASE_URL" baseline -scenario lookup -users 3000 -concurrency 32 -pid "$BASE_PID"
lg baseline-1k "$BASE_URL" baseline -scenario create -users 2000 -concurrency 32 -pid "$BASE_PID"
lg baseline-1k "$BASE_URL" baseline -scenario onboard -users 1000 -concurrency 16 -pid "$BASE_PID"
lg baseline-1k "$BASE_URL" baseline -scenario deprovision -users 500 -concurrency 16 -pid "$BASE_PID"
lg baseline-1k "$BASE_URL" baseline -scenario import -users 0 -concurrency 1 -pid "$BASE_PID"
stop_all

start_bridge 1000
READY_1K=$BR_READY_S
lg bridge-1k "$BR_URL" "$BR_TOKEN" -metrics "$BR_METRICS" -pid "$BR_PID" -scenario lookup -users 3000 -concurrency 32
lg bridge-1k "$BR_URL" "$BR_TOKEN" -metrics "$BR_METRICS" -pid "$BR_PID" -scenario create -users 2000 -concurrency 32
lg bridge-1k "$BR_URL" "$BR_TOKEN" -metrics "$BR_METRICS" -pid "$BR_PID" -scenario onboard -users 1000 -concurrency 16
lg bridge-1k "$BR_URL" "$BR_TOKEN" -metrics "$BR_METRICS" -pid "$BR_PID" -scenario deprovision -users 500 -concurrency 16
lg bridge-1k "$BR_URL" "$BR_TOKEN" -metrics "$BR_METRICS" -pid "$BR_PID" -scenario import -users 0 -concurrency 1
stop_all

# ---- 100,000 users -----------------------------------------------------
echo "== $BIG users" >&2
start_baseline "$BIG"
lg baseline-big "$BASE_URL" baseline -scenario lookup -users 64 -concurrency 32 -pid "$BASE_PID"
lg baseline-big "$BASE_URL" baseline -scenario import -users 0 -concurrency 1 -pid "$BASE_PID"
stop_all

start_bridge "$BIG"
READY_BIG=$BR_READY_S LIST_BIG=$BR_LIST_CALLS TEAMS_BIG=$BR_TEAM_CALLS
lg bridge-big "$BR_URL" "$BR_TOKEN" -metrics "$BR_METRICS" -pid "$BR_PID" -scenario lookup -users 5000 -concurrency 32
lg bridge-big "$BR_URL" "$BR_TOKEN" -metrics "$BR_METRICS" -pid "$BR_PID" -scenario import -users 0 -concurrency 1
lg bridge-big-after "$BR_URL" "$BR_TOKEN" -metrics "$BR_METRICS" -pid "$BR_PID" -scenario lookup -users 2000 -concurrency 32
stop_all
# The same with the Go memory limit the deploy/ manifests set (GOMEMLIMIT = the container's limit).
GOMEMLIMIT=$MEMLIMIT start_bridge "$BIG"
lg bridge-big-memlimit "$BR_URL" "$BR_TOKEN" -metrics "$BR_METRICS" -pid "$BR_PID" -scenario lookup -users 5000 -concurrency 32
lg bridge-big-memlimit "$BR_URL" "$BR_TOKEN" -metrics "$BR_METRICS" -pid "$BR_PID" -scenario import -users 0 -concurrency 1
stop_all

# ---- a group push ------------------------------------------------------
echo "== group push of $PUSH members" >&2
start_baseline $((PUSH + 2000))
lg baseline-push "$BASE_URL" baseline -scenario group-push -members "$PUSH" -batch 100 -concurrency 1 -pid "$BASE_PID"
stop_all
start_bridge $((PUSH + 2000))
lg bridge-push "$BR_URL" "$BR_TOKEN" -metrics "$BR_METRICS" -pid "$BR_PID" -scenario group-push -members "$PUSH" -batch 100 -concurrency 1
stop_all

# ---- an emulator with a capacity ---------------------------------------
echo "== emulator capacity $CAPACITY req/s" >&2
start_bridge 1000 "$CAPACITY"
lg bridge-cap-warmup "$BR_URL" "$BR_TOKEN" -metrics "$BR_METRICS" -scenario create -users 600 -concurrency 32
lg bridge-cap-create "$BR_URL" "$BR_TOKEN" -metrics "$BR_METRICS" -pid "$BR_PID" -scenario create -users 3000 -concurrency 32
lg bridge-cap "$BR_URL" "$BR_TOKEN" -metrics "$BR_METRICS" -pid "$BR_PID" -scenario onboard -users 1500 -concurrency 16
CAP_RATE=$(curl -fsS "$BR_METRICS" | awk '/^scim_bridge_sigma_pacing_rate_limit\{path="rest"\}/ {print $NF}')
stop_all
printf 'READY_1K=%s\nREADY_BIG=%s\nLIST_BIG=%s\nTEAMS_BIG=%s\nCAP_RATE=%s\n' "$READY_1K" "$READY_BIG" "$LIST_BIG" "$TEAMS_BIG" "$CAP_RATE" >"$results.env"
fi
# shellcheck disable=SC1090
. "$results.env"

# ---- the report --------------------------------------------------------
echo "writing $OUT" >&2
q() { jq -rs --arg t "$1" --arg s "$2" "map(select(.target==\$t and .scenario==\$s)) | last | $3 // empty" "$results"; }
f1() { [ -n "$1" ] && printf '%.1f' "$1" || printf '—'; }
f2() { [ -n "$1" ] && printf '%.2f' "$1" || printf '—'; }
ratio() { [ -n "$1" ] && [ -n "$2" ] && printf '%.2f×' "$(calc "$1 / $2")" || printf '—'; }
lat() { jq -rs --arg t "$1" --arg s "$2" --arg op "$3" 'def r: (. * 10 | round) / 10; map(select(.target==$t and .scenario==$s)) | last | .ops[]? | select(.op==$op) | "\(.p50_ms | r) / \(.p90_ms | r) / \(.p99_ms | r)"' "$results"; }
errs() { jq -rs --arg t "$1" --arg s "$2" 'map(select(.target==$t and .scenario==$s)) | last | [.ops[]? | .errors_by_status // {} | to_entries[] | "\(.key)×\(.value)"] | if length==0 then "none" else join(" ") end' "$results"; }
met() { if [ "$(awk "BEGIN { print ($1) ? 1 : 0 }")" = 1 ]; then echo "**met**"; else echo "**not met**"; fi; }

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
{
	echo "# Benchmarks"
	echo
	echo "Written by \`bench/run.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC') at $(git rev-parse --short HEAD): $(nproc) cores ($cpu),"
	echo "$(awk '/MemTotal/ {printf "%.1f GB", $2/1048576}' /proc/meminfo) RAM, $(uname -sr), $(go version | cut -d' ' -f3)."
	echo "Everything ran on this one machine over loopback, side by side in one run: the load generator"
	echo "(\`cmd/scim-loadgen\`), the server under test, and for the bridge the Sigma emulator (\`cmd/sigmafake\`)"
	echo "as a separate process. The baseline is \`cmd/scim-baseline\`, a bare in-memory SCIM server on"
	echo "elimity-com/scim (filters answered by scanning with the library's validator). The bridge runs with its"
	echo "**default configuration** (REST mode, adaptive pacing with the default ceilings, SQLite store). The"
	echo "machine was shared with other work during the run, so absolute figures are noisy; ratios from the"
	echo "same run are the comparison. Latencies are p50 / p90 / p99 in ms."
	echo
	echo "## 1,000 users, emulator without a capacity limit"
	echo
	echo "| scenario | concurrency | bare elimity server | scim-bridge | ratio | bare p50/p90/p99 | bridge p50/p90/p99 | Sigma calls per op | bridge errors |"
	echo "|---|---|---|---|---|---|---|---|---|"
	for s in lookup create onboard deprovision import; do
		case $s in lookup) op=lookup;; create) op=create;; onboard) op=create;; deprovision) op=deactivate;; import) op=page;; esac
		b=$(q baseline-1k $s .per_second); g=$(q bridge-1k $s .per_second); unit=$(q bridge-1k $s .unit_name)
		echo "| $s ($unit/s) | $(q bridge-1k $s .concurrency) | $(f1 "$b") | $(f1 "$g") | $(ratio "$g" "$b") | $(lat baseline-1k $s $op) | $(lat bridge-1k $s $op) | $(f2 "$(q bridge-1k $s .sigma_calls_per_unit)") | $(errs bridge-1k $s) |"
	done
	echo
	echo "Onboarding is Okta's sequence (userName lookup that misses, create, group add); its latency column is the create."
	echo "Bridge start-up with 1,000 members: ready in $(printf '%.1f' "$READY_1K") s. Peak RSS: baseline $(f1 "$(q baseline-1k import .peak_rss_mb)") MB, bridge $(f1 "$(q bridge-1k import .peak_rss_mb)") MB."
	echo
	echo "## $BIG users"
	echo
	echo "| scenario | bare elimity server | scim-bridge | ratio | bare p50/p90/p99 | bridge p50/p90/p99 | Sigma calls per op |"
	echo "|---|---|---|---|---|---|---|"
	b=$(q baseline-big lookup .per_second); g=$(q bridge-big lookup .per_second)
	echo "| lookup (requests/s, c=32) | $(f1 "$b") | $(f1 "$g") | $(ratio "$g" "$b") | $(lat baseline-big lookup lookup) | $(lat bridge-big lookup lookup) | $(f2 "$(q bridge-big lookup .sigma_calls_per_unit)") |"
	b=$(q baseline-big import .per_second); g=$(q bridge-big import .per_second)
	echo "| import page \`GET /Users?startIndex=…&count=100\` (pages/s, c=1) | $(f1 "$b") | $(f1 "$g") | $(ratio "$g" "$b") | $(lat baseline-big import page) | $(lat bridge-big import page) | $(f2 "$(q bridge-big import .sigma_calls_per_unit)") |"
	echo
	echo "- Full import of $BIG users at the measured page rate: baseline $(f1 "$(q baseline-big import '.extra["full import seconds"]')") s, bridge $(f1 "$(q bridge-big import '.extra["full import seconds"]')") s."
	echo "- Bridge start-up with $BIG members: ready in $(printf '%.1f' "$READY_BIG") s with $LIST_BIG member-list calls and $TEAMS_BIG team calls."
	echo "- Peak RSS of the bridge over the whole $BIG-member run (start-up, lookups, import pages, lookups again): $(f1 "$(q bridge-big-after lookup .peak_rss_mb)") MB (baseline: $(f1 "$(q baseline-big import .peak_rss_mb)") MB)."
	echo "- With GOMEMLIMIT=$MEMLIMIT (deploy/ sets GOMEMLIMIT to the container's memory limit, 256Mi): peak RSS $(f1 "$(q bridge-big-memlimit import .peak_rss_mb)") MB over start-up, 5,000 lookups ($(f1 "$(q bridge-big-memlimit lookup .per_second)")/s) and a full import (page p99 $(jq -rs 'map(select(.target=="bridge-big-memlimit" and .scenario=="import")) | last | .ops[] | select(.op=="page") | .p99_ms' "$results") ms)."
	echo "- Repeated lookups after the import pages: $(f1 "$(q bridge-big-after lookup .per_second)") requests/s, $(f2 "$(q bridge-big-after lookup .sigma_calls_per_unit)") Sigma calls each."
	echo
	echo "## A group of $PUSH members pushed (org of $((PUSH + 2000)) users)"
	echo
	echo "One group built by PATCH add of 100 members each (as Okta and Entra push), then trimmed by PATCH remove of 100 each, c=1."
	echo
	echo "| | bare elimity server | scim-bridge | ratio |"
	echo "|---|---|---|---|"
	b=$(q baseline-push group-push '.extra["add members/s"]'); g=$(q bridge-push group-push '.extra["add members/s"]')
	echo "| members added per second, whole push | $(f1 "$b") | $(f1 "$g") | $(ratio "$g" "$b") |"
	b=$(q baseline-push group-push '.extra["first 1000 members/s"]'); g=$(q bridge-push group-push '.extra["first 1000 members/s"]')
	echo "| members/s over the first 1,000 | $(f1 "$b") | $(f1 "$g") | |"
	b=$(q baseline-push group-push '.extra["last 1000 members/s"]'); g=$(q bridge-push group-push '.extra["last 1000 members/s"]')
	echo "| members/s over the last 1,000 | $(f1 "$b") | $(f1 "$g") | |"
	echo "| PATCH add p50/p90/p99 ms | $(lat baseline-push group-push add) | $(lat bridge-push group-push add) | |"
	echo "| PATCH remove p50/p90/p99 ms | $(lat baseline-push group-push remove) | $(lat bridge-push group-push remove) | |"
	echo "| Sigma calls per member changed | | $(f2 "$(q bridge-push group-push .sigma_calls_per_unit)") | |"
	echo "| errors | $(errs baseline-push group-push) | $(errs bridge-push group-push) | |"
	echo
	echo "## Emulator with a capacity of $CAPACITY requests/s (bare 429s above it)"
	echo
	cc=$(q bridge-cap-create create .sigma_calls); cl=$(q bridge-cap-create create .sigma_429); cs=$(q bridge-cap-create create .seconds)
	echo "After a warm-up of 600 creates, 3,000 creates at c=32 with the default configuration (one Sigma call each):"
	echo "$(f1 "$(q bridge-cap-create create .per_second)") users/s, $(f1 "$(calc "$cc / $cs")") Sigma calls/s ($(printf '%.0f' "$(calc "100 * $cc / $cs / $CAPACITY")")% of the capacity),"
	echo "$(printf '%.0f' "$cl") of $(printf '%.0f' "$cc") calls answered 429 ($(printf '%.2f' "$(calc "100 * $cl / $cc")")%), errors: $(errs bridge-cap-create create)."
	echo
	c=$(q bridge-cap onboard .sigma_calls); lim=$(q bridge-cap onboard .sigma_429); sec=$(q bridge-cap onboard .seconds)
	echo "Then 1,500 onboardings at c=16:"
	echo "$(f1 "$(q bridge-cap onboard .per_second)") users/s, $(f1 "$(calc "$c / $sec")") Sigma calls/s ($(printf '%.0f' "$(calc "100 * $c / $sec / $CAPACITY")")% of the capacity),"
	echo "$(printf '%.0f' "$lim") of $(printf '%.0f' "$c") calls answered 429 ($(printf '%.2f' "$(calc "100 * $lim / $c")")%), $(f2 "$(q bridge-cap onboard .sigma_calls_per_unit)") Sigma calls per user, errors: $(errs bridge-cap onboard)."
	echo "The pacer's rate at the end: $(f1 "$CAP_RATE") requests/s. Latency of the create p50/p90/p99: $(lat bridge-cap onboard create) ms."
	echo
	echo "## Targets of issue 13"
	echo
	echo "| target | measured | verdict |"
	echo "|---|---|---|"
	r=$(calc "$(q bridge-1k lookup .per_second) / $(q baseline-1k lookup .per_second)")
	echo "| lookup ≥ 3× the bare server at 1k users | $(printf '%.2f' "$r")× | $(met "$r >= 3") |"
	r=$(calc "$(q bridge-big lookup .per_second) / $(q baseline-big lookup .per_second)")
	echo "| lookup ≥ 100× the bare server at $BIG | $(printf '%.0f' "$r")× | $(met "$r >= 100") |"
	r=$(calc "$(q bridge-1k onboard .per_second) / $(q baseline-1k onboard .per_second)")
	echo "| onboarding, default configuration, ≥ 2× the bare server's users/s (no capacity limit) | $(printf '%.2f' "$r")× | $(met "$r >= 2") |"
	r=$(calc "$cc / $cs / $CAPACITY")
	echo "| Sigma calls within 20% of the emulator's capacity (creates, c=32) | $(printf '%.0f' "$(calc "100 * $r")")% of it | $(met "$r >= 0.8") |"
	r=$(calc "$c / $sec / $CAPACITY")
	echo "| onboarding within 20% of the emulator's capacity | $(printf '%.0f' "$(calc "100 * $r")")% of it | $(met "$r >= 0.8") |"
	r=$(calc "($lim + $cl) / ($c + $cc)")
	echo "| < 5% of Sigma calls answered 429 once converged (both runs after the warm-up) | $(printf '%.2f' "$(calc "100 * $r")")% | $(met "$r < 0.05") |"
	r=$(q bridge-1k onboard .sigma_calls_per_unit)
	echo "| ≤ 3 Sigma calls per onboarded user | $(f2 "$r") | $(met "$r <= 3") |"
	r=$(q bridge-big lookup .sigma_calls_per_unit)
	echo "| 0 Sigma calls per repeated lookup | $(f2 "$r") | $(met "$r == 0") |"
	r=$(q bridge-big import .sigma_calls_per_unit)
	echo "| 0 Sigma calls per import page | $(f2 "$r") | $(met "$r == 0") |"
	r=$(jq -rs 'map(select(.target=="bridge-big" and .scenario=="import")) | last | .ops[] | select(.op=="page") | .p99_ms' "$results")
	echo "| import page p99 < 50 ms at $BIG members | $(f1 "$r") ms | $(met "$r < 50") |"
	r=$(q bridge-big import '.extra["full import seconds"]')
	echo "| a full $BIG import in < 1 minute | $(f1 "$r") s | $(met "$r < 60") |"
	a=$(q bridge-push group-push '.extra["first 1000 members/s"]'); z=$(q bridge-push group-push '.extra["last 1000 members/s"]')
	r=$(calc "$z / $a")
	echo "| group push of $PUSH: last 1,000 within 20% of the first 1,000 | $(printf '%.0f' "$(calc "100 * $r")")% | $(met "$r >= 0.8") |"
	r=$(q bridge-big-after lookup .peak_rss_mb)
	echo "| peak RSS < 250 MB at $BIG members (default Go runtime settings) | $(f1 "$r") MB | $(met "$r < 250") |"
	r=$(q bridge-big-memlimit import .peak_rss_mb)
	echo "| peak RSS < 250 MB at $BIG members with GOMEMLIMIT=$MEMLIMIT | $(f1 "$r") MB | $(met "$r < 250") |"
	echo "| start-up at $BIG members ready in < 15 s | $(printf '%.1f' "$READY_BIG") s | $(met "$READY_BIG < 15") |"
	echo "| start-up member-list calls = ceil(N/1000) | $LIST_BIG (ceil(N/1000) = $(( (BIG + 999) / 1000 ))) | $(met "$LIST_BIG == $(( (BIG + 999) / 1000 ))") |"
	echo
	echo "Reproduce: \`bench/run.sh\` (BIG, PUSH, CAPACITY and OUT override the defaults). Raw results: one JSON line per"
	echo "scenario from \`scim-loadgen -json\`."
} >"$OUT"
echo "done: $OUT" >&2
