#!/usr/bin/env bash
# The C row under AddressSanitizer + UndefinedBehaviorSanitizer (build/mnist-asan) and under valgrind
# (build/mnist): a short training run that saves and reloads its weights, --predict with them, then every
# bad-input case.
# Each run must end with exactly the expected exit status: a sanitizer report, a leak or a valgrind
# error changes it (ASan/UBSan abort with 1, LeakSanitizer exits 23, valgrind --error-exitcode=1).
#
#   MNIST_DATA_DIR=/path/to/data c/tests/run_sanitizers.sh [asan|valgrind|all]   (default: all)
#
# About 20 s for asan and 1.5-2 min for valgrind on an idle 2-core machine (valgrind runs the
# 20,000-example evaluation of the training case on one emulated core).
set -u
which=${1:-all}
case $which in asan | valgrind | all) ;; *) echo "usage: $0 [asan|valgrind|all]" >&2; exit 2 ;; esac
here=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$here/.." && pwd)
data=${MNIST_DATA_DIR:-$root/data}
make -s -C "$here" all asan >&2 || exit 1

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Fixtures: a truncated .gz, an image file with the label magic, a weights file with a wrong shape.
for case in truncated magic; do
    mkdir -p "$tmp/$case/mnist"
    for f in "$data"/mnist/*.gz; do ln -s "$f" "$tmp/$case/mnist/"; done
done
rm "$tmp/truncated/mnist/train-images-idx3-ubyte.gz" "$tmp/magic/mnist/train-images-idx3-ubyte.gz"
head -c 100000 "$data/mnist/train-images-idx3-ubyte.gz" > "$tmp/truncated/mnist/train-images-idx3-ubyte.gz"
cp "$data/mnist/train-labels-idx1-ubyte.gz" "$tmp/magic/mnist/train-images-idx3-ubyte.gz"
shape_header='{"fc1.weight":{"dtype":"F32","shape":[784,512],"data_offsets":[0,1605632]},"fc1.bias":{"dtype":"F32","shape":[512],"data_offsets":[1605632,1607680]},"fc2.weight":{"dtype":"F32","shape":[512,512],"data_offsets":[1607680,2656256]},"fc2.bias":{"dtype":"F32","shape":[512],"data_offsets":[2656256,2658304]},"fc3.weight":{"dtype":"F32","shape":[10,512],"data_offsets":[2658304,2678784]},"fc3.bias":{"dtype":"F32","shape":[10],"data_offsets":[2678784,2678824]}}'
n=${#shape_header}
printf "$(printf '\\%03o\\%03o\\%03o\\%03o\\000\\000\\000\\000' $((n & 255)) $((n >> 8 & 255)) $((n >> 16 & 255)) $((n >> 24 & 255)))" > "$tmp/shape.safetensors"
printf '%s' "$shape_header" >> "$tmp/shape.safetensors"
head -c 2678824 /dev/zero >> "$tmp/shape.safetensors"
printf 'not a safetensors file' > "$tmp/garbage.safetensors"
# --predict inputs: the first 3 test images as a plain and a gzip IDX file, and the plain one cut short.
{ printf '\000\000\010\003\000\000\000\003\000\000\000\034\000\000\000\034'
  gzip -dc "$data/mnist/t10k-images-idx3-ubyte.gz" | tail -c +17 | head -c 2352; } > "$tmp/three.idx"
gzip -c "$tmp/three.idx" > "$tmp/three.idx.gz"
head -c 2000 "$tmp/three.idx" > "$tmp/short.idx"

failures=0
# expect STATUS LABEL COMMAND...: run it, compare the exit status, show the last stderr line.
expect() {
    local want=$1 label=$2
    shift 2
    "$@" > "$tmp/out" 2> "$tmp/err"
    local got=$?
    if [ "$got" = "$want" ]; then
        echo "ok   [$label] exit $got: $(tail -n 1 "$tmp/err")"
    else
        echo "FAIL [$label] exit $got, expected $want: $*"
        tail -n 30 "$tmp/err"
        failures=$((failures + 1))
    fi
}

cases() {  # LABEL LIMIT RUNNER...: a training run on LIMIT examples, --predict and every bad-input case under one runner
    local label=$1 limit=$2
    shift 2
    expect 0 "$label" "$@" --data-dir "$data" --limit-train "$limit" --epochs 1 --save "$tmp/w.safetensors"
    expect 0 "$label" "$@" --help
    expect 0 "$label" "$@" --load "$tmp/w.safetensors" --predict "$tmp/three.idx" --data-dir "$tmp/missing"
    expect 0 "$label" "$@" --load "$tmp/w.safetensors" --predict "$tmp/three.idx.gz"
    expect 2 "$label" "$@" --load "$tmp/w.safetensors" --predict "$tmp/short.idx"
    expect 2 "$label" "$@" --load "$tmp/w.safetensors" --predict "$tmp/missing.idx"
    expect 2 "$label" "$@" --predict "$tmp/three.idx"
    expect 2 "$label" "$@" --data-dir "$tmp/missing"
    expect 2 "$label" "$@" --data-dir "$tmp/truncated"
    expect 2 "$label" "$@" --data-dir "$tmp/magic"
    expect 2 "$label" "$@" --bogus
    expect 2 "$label" "$@" --batch-size -5
    expect 2 "$label" "$@" --lr abc
    expect 2 "$label" "$@" --seed 99999999999999999999
    expect 2 "$label" "$@" --data-dir "$data" --epochs 0 --init "$tmp/missing.safetensors"
    expect 2 "$label" "$@" --data-dir "$data" --epochs 0 --init "$tmp/shape.safetensors"
    expect 2 "$label" "$@" --data-dir "$data" --epochs 0 --init "$tmp/garbage.safetensors"
}

# ASan + UBSan; OpenBLAS's own threads allocate too, so LeakSanitizer watches them as well.
if [ "$which" != valgrind ]; then
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    asan=("$here/build/mnist-asan")
    cases asan 500 "${asan[@]}"
    expect 0 asan "${asan[@]}" --data-dir "$data" --epochs 0 --load "$tmp/w.safetensors"
    expect 3 asan "${asan[@]}" --data-dir "$data" --limit-train 300 --epochs 1 --lr 1e30
fi

if [ "$which" != asan ]; then
    # valgrind 3.19 cannot execute AVX-512 and emulates AVX2 slowly, so OpenBLAS is told to use its
    # SSE3 ("Prescott") kernels, on one thread: the evaluation then takes about a minute, not five.
    export OPENBLAS_CORETYPE=Prescott OPENBLAS_NUM_THREADS=1
    cases valgrind 256 valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,possible \
        --trace-children=yes "$here/build/mnist"
fi

echo "failures: $failures"
[ "$failures" = 0 ]
