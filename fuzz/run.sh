#!/usr/bin/env bash
# `make fuzz`: builds the fuzz targets with cargo-afl (instrumented, release) and runs AFL++ on
# each for the given number of seconds, seeded with the project's real and hostile files.
# Writes target/fuzz/report.md (executions, paths, crashes and hangs per target); crashing inputs
# stay in target/fuzz/out/<target>/default/crashes/ to be replayed with
#   target/fuzz/build/release/<target> < FILE
# Usage: fuzz/run.sh SECONDS TARGET...
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(pdf office package html image)
out=target/fuzz
mkdir -p "$out"

export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1
cargo afl build --release --manifest-path fuzz/Cargo.toml --target-dir "$out/build"

# Seeds: small real files of each kind (AFL works best on inputs well under 1 MB) and the
# hostile corpus.
python3 fixtures/hostile/make_corpus.py "$out/hostile" >/dev/null
seed() { # seed TARGET PATTERN...
  local dir="$out/seeds/$1"; shift
  rm -rf "$dir"; mkdir -p "$dir"
  for pattern in "$@"; do
    find fixtures/demo/files fixtures/preview "$out/hostile" -type f -iname "$pattern" -size -300k \
      -exec cp {} "$dir/" \; 2>/dev/null || true
  done
  [ -n "$(ls -A "$dir")" ] || printf 'x' > "$dir/empty"
}
seed pdf '*.pdf'
seed office '*.docx' '*.pptx' '*.xlsx'
seed package '*.zip'
seed html '*.html' '*.htm' '*.txt' '*.svg'
seed image '*.png' '*.jpg' '*.gif' '*.bmp' '*.webp'
# The office target picks the format from the first byte: prefix each seed with its format.
for f in "$out"/seeds/office/*; do
  case "$f" in
    *.docx) b='\x00' ;; *.pptx) b='\x01' ;; *.xlsx) b='\x02' ;; *) continue ;;
  esac
  { printf "$b"; cat "$f"; } > "$f.seed" && rm "$f"
done

report="$out/report.md"
{
  echo "# Fuzzing report ($(date -u +%Y-%m-%d), ${seconds} s per target, $(nproc) cores)"
  echo
  echo "| target | executions | execs/s | corpus | crashes | hangs |"
  echo "|---|---:|---:|---:|---:|---:|"
} > "$report"
for t in "${targets[@]}"; do
  echo "== fuzzing $t for $seconds s"
  # A resumed run continues from its findings.
  input="$out/seeds/$t"
  [ -d "$out/out/$t/default/queue" ] && input=-
  timeout $((seconds + 60)) cargo afl fuzz -V "$seconds" -m none -t 5000 -i "$input" -o "$out/out/$t" \
    -- "$out/build/release/$t" > "$out/$t.log" 2>&1 || true
  stats="$out/out/$t/default/fuzzer_stats"
  value() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$stats" 2>/dev/null || echo 0; }
  crashes=$(find "$out/out/$t/default/crashes" -name 'id:*' 2>/dev/null | wc -l)
  hangs=$(find "$out/out/$t/default/hangs" -name 'id:*' 2>/dev/null | wc -l)
  echo "| $t | $(value execs_done) | $(value execs_per_sec) | $(value corpus_count) | $crashes | $hangs |" >> "$report"
done
cat "$report"
