#!/usr/bin/env bash
# The replay benchmark (bench/replay_bench.py) on the device, resumable across device commands through one
# tarball, since the device starts bare and returns at most 8 files, 2 folders deep (the run store is deeper).
#
# Here, once:  cp -r ../shared/data/llm-replies .corpus    (.corpus/ and .replay-state/ are git-ignored: the
#              corpus is never committed, and the store holds the replies' code)
# Each call:   device run, carry [".corpus", ".replay-state"], command: OUT=$OUT bash bench/replay_gpu.sh [--only a,b]
# After it:    mkdir -p .replay-state && cp <files_at>/replay.tgz .replay-state/   (the next call resumes from it)
# Results:     <files_at>/results.md and results.json, rendered every call; copy them to bench/results when done.
set -uo pipefail
W=/tmp/tritonwright-replay  # the same absolute path on every call: the run store records the paths under it
mkdir -p "$W"
if [ -f .replay-state/replay.tgz ]; then tar xzf .replay-state/replay.tgz -C "$W"; fi
PYTHONPATH=src PYTHONUNBUFFERED=1 timeout 570 python3 bench/replay_bench.py --corpus .corpus --out "$W" \
    --budget-s 520 "$@" > "$OUT/replay.log" 2>&1
echo "replay_bench exit $?"
tail -n 3 "$OUT/replay.log"
tar czf "$OUT/replay.tgz" -C "$W" --exclude=./corpus .
cp "$W/results.md" "$W/results.json" "$OUT/" 2>/dev/null
