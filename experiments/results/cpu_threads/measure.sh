#!/bin/bash
# Pauses the study, times the adapter step with 2 threads alone vs two 1-core processes.
cd /work/main; . .venv/bin/activate
P=$(pgrep -f "experiments\.(study_pipeline|sweep|train)")
kill -STOP $P; echo "stopped $P"; sleep 2
B="python -m experiments.benchmark --methods=adapter,full --steps=15 --seq_len=128 --batch_size=32"
$B --json_out=/tmp/thr_two.json > /tmp/thr_two.log 2>&1
XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" taskset -c 0 $B --json_out=/tmp/thr_c0.json > /tmp/thr_c0.log 2>&1 &
XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" taskset -c 1 $B --json_out=/tmp/thr_c1.json > /tmp/thr_c1.log 2>&1 &
wait %1 %2 2>/dev/null; wait
kill -CONT $P; echo "continued"
