#!/bin/bash
# Pauses a running study (SIGSTOP), times the train step in one process on both
# cores, then in two processes at once pinned to one core each, and resumes it.
# Run from the repository root with its venv active; writes JSON to this folder.
out=experiments/results/cpu_threads
P=$(pgrep -f "experiments\.(study_pipeline|sweep|train)")
[ -n "$P" ] && kill -STOP $P
B="python -m experiments.benchmark --methods=adapter,full --steps=15 --seq_len=128 --batch_size=32"
$B --json_out=$out/two_threads_one_process.json
export XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
taskset -c 0 $B --json_out=$out/one_thread_core0.json &
taskset -c 1 $B --json_out=$out/one_thread_core1.json &
wait
[ -n "$P" ] && kill -CONT $P
