r"""Mixed-task inference: one backbone, several tasks' adapters, one batch.

  python -m experiments.serve --artifacts runs/rte/artifact,runs/mrpc/artifact \
      --input requests.jsonl [--output predictions.jsonl]
  python -m experiments.serve --artifacts runs/rte/artifact,runs/mrpc/artifact \
      --benchmark [--num_examples 256] [--batch_size 32] [--repeats 3]

--input: JSON lines {"task": "rte", "text_a": "...", "text_b": "..."} (text_b
for sentence-pair tasks), `task` being an artifact's task name. Without
--input the requests are the tasks' dev examples (--num_examples per task),
interleaved so every batch mixes tasks. Writes one JSON line per request, in
order: {"task", "prediction"} (label name, or score for regression), to
--output or stdout, and prints each task's count.

--benchmark: examples/s of the mixed batches (adapter_bert/multitask.py)
against running the tasks one model at a time (each task's requests through
its own model, batches of the same size), both compiled first, the median of
--repeats passes; also checks that both give the same logits.
"""

from __future__ import annotations

import collections
import functools
import json
import sys
import time
from typing import Any, Mapping, Sequence

from absl import app
from absl import flags
import jax
import ml_collections
import numpy as np

from adapter_bert import artifacts
from adapter_bert import backbones
from adapter_bert import inference
from adapter_bert import data
from adapter_bert import multitask
from adapter_bert import tasks as tasks_lib

FLAGS = flags.FLAGS


def define_flags() -> None:
  """Defined by `main` only: importing the module claims no flag names."""
  flags.DEFINE_list('artifacts', None, 'Exported artifact directories of one '
                    'backbone.')
  flags.DEFINE_string('input', None, 'JSON lines of requests; default: the '
                      "tasks' dev examples, interleaved.")
  flags.DEFINE_string('output', None, 'Predictions (JSON lines); default: '
                      'stdout.')
  flags.DEFINE_integer('num_examples', 256, 'Dev examples per task when there '
                       'is no --input.')
  flags.DEFINE_integer('batch_size', 32, 'Batch size.')
  flags.DEFINE_integer('max_length', 128, 'Tokens per example.')
  flags.DEFINE_bool('benchmark', False, 'Time mixed batches against one model '
                    'at a time.')
  flags.DEFINE_integer('repeats', 3, 'Timed passes (median).')
  flags.mark_flags_as_required(['artifacts'])


def read_requests(path: str) -> list[dict[str, Any]]:
  with open(path, encoding='utf-8') as f:
    return [json.loads(line) for line in f if line.strip()]


def dev_requests(mt: multitask.MultiTaskModel,
                 per_task: int) -> list[dict[str, Any]]:
  """The first `per_task` dev examples of each task, interleaved."""
  queues = []
  for name, config in zip(mt.tasks, mt.configs):
    task = tasks_lib.from_config(ml_collections.ConfigDict(config))
    examples = task.load_split(task.eval_splits[0])
    n = min(per_task, len(examples))
    queues.append([dict(task=name, text_a=examples.text_a[i],
                        text_b=None if examples.text_b is None
                        else examples.text_b[i]) for i in range(n)])
  mixed = []
  for i in range(max(len(q) for q in queues)):
    mixed += [q[i] for q in queues if i < len(q)]
  return mixed


def encode(mt: multitask.MultiTaskModel, tokenizer,
           requests: Sequence[Mapping[str, Any]],
           max_length: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
  """Token arrays of the requests (in order) and each one's task index."""
  index = {name: i for i, name in enumerate(mt.tasks)}
  if len(index) != len(mt.tasks):
    raise ValueError(f'Two artifacts serve the same task: {mt.tasks}.')
  unknown = sorted({r['task'] for r in requests} - set(index))
  if unknown:
    raise ValueError(f'Requests for tasks {unknown}; served: {mt.tasks}.')
  task_ids = np.array([index[r['task']] for r in requests], np.int32)
  n = len(requests)
  arrays = {'input_ids': np.zeros((n, max_length), np.int32),
            'token_type_ids': np.zeros((n, max_length), np.int32),
            'lengths': np.zeros((n,), np.int32)}
  # Single sentences and pairs are tokenized apart (the tokenizer takes
  # either all pairs or none), then put back in request order.
  for pairs in (False, True):
    rows = [i for i, r in enumerate(requests)
            if bool(r.get('text_b')) == pairs]
    if not rows:
      continue
    examples = data.Examples(
        text_a=[requests[i]['text_a'] for i in rows],
        text_b=[requests[i]['text_b'] for i in rows] if pairs else None,
        labels=None, index=np.asarray(rows, np.int64))
    tokens = data.tokenize_examples(tokenizer, examples, max_length)
    for key in arrays:
      arrays[key][rows] = tokens[key]
  return arrays, task_ids


def mixed_logits(mt: multitask.MultiTaskModel, arrays: Mapping[str, Any],
                 task_ids: np.ndarray, batch_size: int) -> np.ndarray:
  """[N, max outputs] logits, the requests in mixed-task batches."""
  # The task ids ride along as the batch's labels.
  outputs = inference.predict(lambda b: mt.logits(b, b['labels']), arrays,
                              batch_size, row_ids=task_ids)
  return np.concatenate(outputs)


def one_model_at_a_time(loaded: Sequence[artifacts.LoadedArtifact],
                        apply_fns: Sequence[Any], params: Sequence[Any],
                        arrays: Mapping[str, Any], task_ids: np.ndarray,
                        batch_size: int, width: int) -> np.ndarray:
  """The baseline: each task's requests through its own model."""
  out = np.zeros((len(task_ids), width), np.float32)
  for t, (artifact, fn, p) in enumerate(zip(loaded, apply_fns, params)):
    rows = np.flatnonzero(task_ids == t)
    if not len(rows):
      continue
    sub = {k: v[rows] for k, v in arrays.items()}
    logits = inference.predict(functools.partial(fn, p), sub, batch_size)
    out[rows, :artifact.model.num_outputs] = np.concatenate(logits)
  return out


def _apply_fn(model):
  return jax.jit(lambda params, batch: model.apply(
      {'params': params}, batch['input_ids'], batch['token_type_ids'],
      batch['attention_mask']))


def predictions(mt: multitask.MultiTaskModel, logits: np.ndarray,
                task_ids: np.ndarray) -> list[dict[str, Any]]:
  out = []
  for row, t in zip(multitask.split_outputs(mt, logits, task_ids), task_ids):
    names = mt.label_names[t]
    value = (float(row[0]) if names is None else names[int(np.argmax(row))])
    out.append(dict(task=mt.tasks[t], prediction=value))
  return out


def _median_seconds(fn, repeats: int) -> float:
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return float(np.median(times))


def benchmark(mt, loaded, arrays, task_ids, batch_size: int,
              repeats: int) -> dict[str, Any]:
  """Examples/s, mixed batches vs. one model at a time (after compiling)."""
  width = max(mt.num_outputs)
  fns = [_apply_fn(a.model) for a in loaded]
  params = [jax.device_put(a.params) for a in loaded]
  mixed = lambda: mixed_logits(mt, arrays, task_ids, batch_size)
  alone = lambda: one_model_at_a_time(loaded, fns, params, arrays, task_ids,
                                      batch_size, width)
  a, b = mixed(), alone()  # Compiles every shape both will see.
  mask = np.zeros_like(b, bool)
  for i, t in enumerate(task_ids):
    mask[i, :mt.num_outputs[t]] = True
  n = len(task_ids)
  mixed_s = _median_seconds(mixed, repeats)
  alone_s = _median_seconds(alone, repeats)
  return dict(
      examples=n, tasks=list(mt.tasks), batch_size=batch_size,
      device=str(jax.devices()[0].device_kind),
      mixed_examples_per_sec=n / mixed_s,
      one_model_at_a_time_examples_per_sec=n / alone_s,
      speedup=alone_s / mixed_s,
      max_abs_logit_difference=float(np.abs(a - b)[mask].max()))


def main(argv):
  del argv
  loaded = [artifacts.load(p) for p in FLAGS.artifacts]
  mt = multitask.from_loaded(loaded)
  tokenizer = backbones.load_tokenizer(mt.backbone)
  requests = (read_requests(FLAGS.input) if FLAGS.input
              else dev_requests(mt, FLAGS.num_examples))
  arrays, task_ids = encode(mt, tokenizer, requests, FLAGS.max_length)
  if FLAGS.benchmark:
    print(json.dumps(benchmark(mt, loaded, arrays, task_ids, FLAGS.batch_size,
                               FLAGS.repeats), indent=2))
    return
  results = predictions(mt, mixed_logits(mt, arrays, task_ids,
                                         FLAGS.batch_size), task_ids)
  lines = ''.join(json.dumps(r) + '\n' for r in results)
  if FLAGS.output:
    with open(FLAGS.output, 'w', encoding='utf-8') as f:
      f.write(lines)
  else:
    sys.stdout.write(lines)
  counts = collections.Counter(r['task'] for r in results)
  print(', '.join(f'{t}: {counts[t]}' for t in mt.tasks), file=sys.stderr)


if __name__ == '__main__':
  define_flags()
  app.run(main)
