#!/usr/bin/env bash
# GPU checks in one go (for a CUDA machine with CuPy): the `gpu`-marked tests,
# the explain throughput benchmark (FP32, then TF32 matrix products), the
# word CNN and bi-LSTM benchmarks, a
# per-layer profile of the CNN and the LeNet-5 benchmark on CuPy arrays.
# Usage: OUT=out_dir SKLRP_DATA=path/to/data bash benchmarks/run_gpu.sh [--no-tests] [--no-tf32] [--no-lenet]
# Files are named as in benchmarks/results/ (prefix MACHINE, default h200).
# Wheels of missing pure-Python dependencies may be put in .whl/ beforehand.
set -u
OUT=${OUT:-gpu_out}
MACHINE=${MACHINE:-h200}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)  # absolute: profile_layers.py runs from benchmarks/
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=".:${PYTHONPATH:-}" PYTHONUNBUFFERED=1 MPLBACKEND=Agg
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpu.txt"
case " $* " in *" --no-tests "*) ;; *)
  python3 -m pytest -q -m gpu tests -p no:cacheprovider 2>&1 | tee "$OUT/${MACHINE}_gpu_tests.log" | tail -15 ;;
esac
python3 benchmarks/bench_explain.py --device cuda 2>&1 | tee "$OUT/${MACHINE}_bench_explain.jsonl"
case " $* " in *" --no-tf32 "*) ;; *)
  CUPY_TF32=1 python3 benchmarks/bench_explain.py --device cuda 2>&1 | tee "$OUT/${MACHINE}_bench_explain_tf32.jsonl" ;;
esac
python3 benchmarks/bench_text_cnn.py --device cuda --batch 256 2>&1 | tee "$OUT/${MACHINE}_bench_text_cnn.jsonl"
python3 benchmarks/bench_lstm.py --device cuda 2>&1 | tee "$OUT/${MACHINE}_bench_lstm.jsonl"
(cd benchmarks && PYTHONPATH="..:$PYTHONPATH" python3 profile_layers.py --device cuda 2>&1 | tee "$OUT/${MACHINE}_profile_layers.jsonl")
case " $* " in *" --no-lenet "*) ;; *)
  python3 benchmarks/bench_mnist_lenet.py --device cuda --n-samples 2000 2>&1 | tee "$OUT/${MACHINE}_bench_lenet.jsonl" ;;
esac
