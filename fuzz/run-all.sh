#!/bin/sh
# Runs the fuzz targets one after the other, never in parallel (the build machine has 2 cores).
#
#   fuzz/run-all.sh                      # all five targets, 660 s each
#   FUZZ_TIME=60 fuzz/run-all.sh san_decode
#
# New inputs go to corpus/<target>/ (git-ignored); seeds/<target>/ is only read. Crashes, leaks,
# timeouts and out-of-memory inputs land in artifacts/<target>/, logs in logs/<target>.log.
# FUZZ_BUILD_ARGS is passed to `cargo fuzz run` (e.g. `--target-dir /elsewhere`).
#
# ASan's quarantine of freed memory (256 MB by default) counts against -rss_limit_mb; loading a
# large corpus fills it and gives false out-of-memory reports, so it is cut to 64 MB here
# (ASAN_OPTIONS from the environment wins; cargo-fuzz adds detect_odr_violation=0).
set -u
export ASAN_OPTIONS="${ASAN_OPTIONS:-quarantine_size_mb=64}"
cd "$(dirname "$0")"
time=${FUZZ_TIME:-660}
targets=${*:-xml_decode wbxml_decode xml_round_trip wbxml_round_trip san_decode}
mkdir -p logs
for t in $targets; do
    mkdir -p "corpus/$t"
    # shellcheck disable=SC2086 # FUZZ_BUILD_ARGS is a list of words
    cargo +nightly fuzz run ${FUZZ_BUILD_ARGS:-} "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$time" -max_len=65536 -rss_limit_mb=512 -timeout=10 -print_final_stats=1 \
        >"logs/$t.log" 2>&1
    echo "$t: exit $? ($(grep -E '^#[0-9]+.*DONE|^Done' "logs/$t.log" | tr '\n' ' '))"
done
