r"""AdapterHub (PyTorch) end to end on a GLUE pair task: the wall-time peer.

Runs in the peer venv that experiments/benchmark.py builds (adapters,
transformers 4.57, torch; see experiments/requirements-peer.txt), never in the
project's. It trains what `python -m experiments.train --config
configs/glue.py:task=mrpc` trains, as closely as AdapterHub allows, so that
both wall times can be measured on the same machine in the same hour:

  ~/.cache/adapter_bert/peer-venv/bin/python experiments/adapterhub_glue.py \
      --model_dir=<minilm dir> --task_dir=data/glue/MRPC --method=adapter \
      --out=runs/adapterhub_mrpc.json

Recipe: Houlsby adapters (DoubleSeqBnConfig, m=64) with the LayerNorms and a
one-layer head on the frozen pretrained pooler trained (method adapter), or
everything (method full); AdamW (weight decay 0.01 except biases and
LayerNorms, eps 1e-6), lr 1e-3 / 5e-5, 10% linear warmup then linear decay,
clip 1.0, batch 32 in random order with the last partial batch dropped,
3 epochs, max length 128, dynamic padding (to the longest row of each batch).
Reports the training loop's seconds (the figure adapter_bert logs as
train_seconds) and dev accuracy / F1.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import time

# Run as a script from experiments/ in the peer venv: its sibling is importable.
import adapterhub_peer  # pylint: disable=g-bad-import-order


def _parse_args(argv):
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--model_dir', required=True, help='HF BERT directory.')
  parser.add_argument('--task_dir', required=True,
                      help='GLUE MRPC-layout directory (train.tsv, dev.tsv).')
  parser.add_argument('--method', default='adapter',
                      choices=('adapter', 'full'))
  parser.add_argument('--m', type=int, default=64)
  parser.add_argument('--epochs', type=int, default=3)
  parser.add_argument('--batch_size', type=int, default=32)
  parser.add_argument('--max_length', type=int, default=128)
  parser.add_argument('--threads', type=int, default=os.cpu_count())
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--out', required=True, help='JSON results path.')
  return parser.parse_args(argv)


def read_mrpc(path):
  """(sentence 1, sentence 2, label) rows of an MRPC-layout TSV."""
  with open(path, encoding='utf-8') as f:
    rows = list(csv.reader(f, delimiter='\t', quoting=csv.QUOTE_NONE))
  return [(r[3], r[4], int(r[0])) for r in rows[1:]]


def _build(args):
  import adapters  # pylint: disable=g-import-not-at-top

  model = adapters.AutoAdapterModel.from_pretrained(args.model_dir)
  model.add_classification_head('task', num_labels=2, layers=1,
                                use_pooler=True)
  if args.method == 'adapter':
    model.add_adapter('task', config=adapters.DoubleSeqBnConfig(
        reduction_factor=model.config.hidden_size / args.m,
        non_linearity='gelu_new'))
    model.train_adapter('task')  # Freezes the backbone (and its pooler).
    for name, p in model.named_parameters():
      if 'LayerNorm' in name:
        p.requires_grad = True
  else:
    model.active_head = 'task'
    for p in model.parameters():
      p.requires_grad = True
  return model


def main(argv=None):
  args = _parse_args(argv)
  import torch  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top

  torch.set_num_threads(args.threads)
  torch.manual_seed(args.seed)
  start_all = time.perf_counter()
  tokenizer = transformers.AutoTokenizer.from_pretrained(args.model_dir)
  train = read_mrpc(os.path.join(args.task_dir, 'train.tsv'))
  dev = read_mrpc(os.path.join(args.task_dir, 'dev.tsv'))

  def encode(rows):
    return tokenizer([r[0] for r in rows], [r[1] for r in rows],
                     truncation=True, max_length=args.max_length)

  train_enc, dev_enc = encode(train), encode(dev)
  collate = transformers.DataCollatorWithPadding(tokenizer)

  def batch_of(enc, rows, indices):
    features = [{k: enc[k][i] for k in enc} for i in indices]
    batch = collate(features)
    batch['labels'] = torch.tensor([rows[i][2] for i in indices])
    return batch

  model = _build(args)
  model.train()
  decay, no_decay = [], []
  for name, p in model.named_parameters():
    if p.requires_grad:
      (no_decay if 'bias' in name or 'LayerNorm' in name else decay).append(p)
  trainable = decay + no_decay
  optimizer = torch.optim.AdamW(
      [dict(params=decay, weight_decay=0.01),
       dict(params=no_decay, weight_decay=0.0)],
      lr=1e-3 if args.method == 'adapter' else 5e-5, eps=1e-6)
  per_epoch = len(train) // args.batch_size
  total = per_epoch * args.epochs
  schedule = transformers.get_linear_schedule_with_warmup(
      optimizer, int(0.1 * total), total)
  generator = torch.Generator().manual_seed(args.seed)

  start = time.perf_counter()
  for _ in range(args.epochs):
    order = torch.randperm(len(train), generator=generator).tolist()
    for k in range(per_epoch):
      batch = batch_of(train_enc, train,
                       order[k * args.batch_size:(k + 1) * args.batch_size])
      optimizer.zero_grad(set_to_none=True)
      loss = model(**batch).loss
      loss.backward()
      torch.nn.utils.clip_grad_norm_(trainable, 1.0)
      optimizer.step()
      schedule.step()
  train_seconds = time.perf_counter() - start

  model.eval()
  predictions = []
  with torch.no_grad():
    for s in range(0, len(dev), 128):
      batch = batch_of(dev_enc, dev, range(s, min(s + 128, len(dev))))
      batch.pop('labels')
      predictions += model(**batch).logits.argmax(-1).tolist()
  labels = [r[2] for r in dev]
  tp = sum(p == 1 and y == 1 for p, y in zip(predictions, labels))
  precision = tp / max(sum(predictions), 1)
  recall = tp / max(sum(labels), 1)
  # The peer venv has no scikit-learn; accuracy and binary F1 by definition.
  results = dict(
      framework='adapterhub', method=args.method, m=args.m,
      versions=dict(transformers=transformers.__version__,
                    torch=torch.__version__, python=platform.python_version()),
      threads=torch.get_num_threads(), steps=total,
      train_seconds=train_seconds,
      examples_per_sec=total * args.batch_size / train_seconds,
      total_seconds=time.perf_counter() - start_all,
      dev=dict(accuracy=sum(p == y for p, y in zip(predictions, labels))
               / len(labels),
               f1=(2 * precision * recall / (precision + recall)
                   if precision + recall else 0.0)))
  print(json.dumps(results, indent=2), file=sys.stderr)
  adapterhub_peer.write_json(args.out, results)


if __name__ == '__main__':
  main()
