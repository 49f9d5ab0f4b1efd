# Sourced by the comparison benchmarks (compare_bench.sh, compare_q8_bench.sh, compare_ct2_rounds.sh) after
# they set $model: builds the release binary when missing, makes the random checkpoint $model from PRESET
# (default gpt2) stored as DTYPE (default F32) when it has no config.json, sets $venv (Scripts/setup_venv.sh: torch, transformers, CTranslate2) and
# $threads, and prints the CPU, the kernel path lmscore picks on it, the thread count and the time.
#   . Scripts/bench_setup.sh
[ -x .build/release/lmscore ] || swift build -c release >&2
if [ ! -f "$model/config.json" ]; then
  .build/release/lmscore make-checkpoint --preset "${PRESET:-gpt2}" --dtype "${DTYPE:-F32}" --random --seed 0 "$model" >&2
fi
venv=$(Scripts/setup_venv.sh)
threads=$(nproc)
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs); kernel path: $(.build/release/lmscore inspect --model "$model" | awk '$1 == "kernel" {print $2}'); $threads threads; $(date -u '+%Y-%m-%d %H:%M UTC')"
