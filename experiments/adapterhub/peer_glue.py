r"""AdapterHub (PyTorch) end to end on a classification task: the peer.

Runs in the peer venv that experiments/adapterhub/peer_env.py builds (adapters,
transformers 4.57, torch; see experiments/adapterhub/requirements.txt), never
in the project's. It trains what `python -m experiments.train --config
configs/glue.py:task=mrpc` trains, as closely as AdapterHub allows, so that
both wall times can be measured on the same machine in the same hour:

  ~/.cache/adapter_bert/peer-venv/bin/python experiments/adapterhub/peer_glue.py \
      --model_dir=<minilm dir> --task_dir=data/glue/MRPC --method=adapter \
      --out=runs/adapterhub_mrpc.json

An extra task or a user's CSV trains on our own split of it, exported by
`python -m experiments.export_split` (task.json and <split>.jsonl files; the
project's venv), with the configuration our run used:

  python -m experiments.export_split \
      --config configs/extra.py:name=progressive_stance --out runs/peer_data/ps
  ~/.cache/adapter_bert/peer-venv/bin/python experiments/adapterhub/peer_glue.py \
      --model_dir=<minilm dir> --task_dir=runs/peer_data/ps --method=adapter \
      --m=8 --lr=3e-4 --epochs=5 --schedule=official \
      --out=experiments/results/extra_minilm/peer/ps-adapter.json

Recipe: Houlsby adapters (DoubleSeqBnConfig, m=64) with the LayerNorms and a
one-layer head on the frozen pretrained pooler trained (method adapter), or
everything (method full); AdamW (weight decay 0.01 except biases and
LayerNorms, eps 1e-6), lr 1e-3 / 5e-5, 10% linear warmup then linear decay,
clip 1.0, batch 32 in random order with each epoch's last partial batch
dropped, int(examples x epochs / 32) steps (as adapter_bert), 3 epochs, max
length 128, dynamic padding (to the longest row of each batch). --schedule
official is the official BERT decay adapter_bert uses by default (lr·t/W, then
lr·(1 − t/T)); linear is Hugging Face's (the MRPC timing runs). Reports the
training loop's seconds (the figure adapter_bert logs as train_seconds), dev
and (labelled) test accuracy, and F1 for two classes.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import time

# Run as a script in the peer venv: its sibling peer_io.py is importable.
import peer_io  # pylint: disable=g-bad-import-order


def _parse_args(argv):
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--model_dir', required=True, help='HF BERT directory.')
  parser.add_argument('--task_dir', required=True,
                      help='GLUE MRPC-layout directory (train.tsv, dev.tsv), '
                      'or an experiments/export_split.py directory.')
  parser.add_argument('--method', default='adapter',
                      choices=('adapter', 'full'))
  parser.add_argument('--m', type=int, default=64)
  parser.add_argument('--lr', type=float, default=0.0,
                      help='0: 1e-3 for adapters, 5e-5 for full.')
  parser.add_argument('--schedule', default='linear',
                      choices=('linear', 'official'))
  parser.add_argument('--epochs', type=float, default=3.0)
  parser.add_argument('--batch_size', type=int, default=32)
  parser.add_argument('--max_length', type=int, default=128)
  parser.add_argument('--threads', type=int,
                      default=len(os.sched_getaffinity(0)),
                      help='Default: the cores this process may run on '
                      '(taskset), not all of the machine\'s.')
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--group_by_length', action='store_true',
                      help="HF Trainer's group_by_length: each epoch's order "
                      'from transformers\' get_length_grouped_indices.')
  parser.add_argument('--task_name', default='',
                      help='Task written to the JSON; default task.json\'s '
                      '(or mrpc).')
  parser.add_argument('--out', required=True, help='JSON results path.')
  return parser.parse_args(argv)


def read_mrpc(path):
  """(sentence 1, sentence 2, label) rows of an MRPC-layout TSV."""
  with open(path, encoding='utf-8') as f:
    rows = list(csv.reader(f, delimiter='\t', quoting=csv.QUOTE_NONE))
  return [(r[3], r[4], int(r[0])) for r in rows[1:]]


def read_jsonl(path):
  """(text a, text b or None, label or None) rows of an exported split."""
  with open(path, encoding='utf-8') as f:
    return [(r['text_a'], r['text_b'], r['label'])
            for r in map(json.loads, f) if r]


def read_task(task_dir):
  """(task name, label count, train rows, {eval split: rows}) of a directory.

  An experiments/export_split.py directory (task.json) gives its splits as
  exported; otherwise an MRPC-layout one: train.tsv, dev.tsv.
  """
  meta_path = os.path.join(task_dir, 'task.json')
  if not os.path.exists(meta_path):
    return ('mrpc', 2, read_mrpc(os.path.join(task_dir, 'train.tsv')),
            {'dev': read_mrpc(os.path.join(task_dir, 'dev.tsv'))})
  with open(meta_path, encoding='utf-8') as f:
    meta = json.load(f)
  splits = {s: read_jsonl(os.path.join(task_dir, f'{s}.jsonl'))
            for s in meta['splits']}
  evals = {('dev' if s == 'validation' else s): rows
           for s, rows in splits.items() if s != 'train'
           and all(r[2] is not None for r in rows)}
  return meta['task'], len(meta['label_names']), splits['train'], evals


def lr_factor(kind, step, total, warmup):
  """The schedule's multiple of lr at `step` (adapter_bert's optim)."""
  if warmup > 0 and step < warmup:
    return step / warmup
  if kind == 'official':
    return max(1.0 - step / max(total, 1), 0.0)
  return max(total - step, 0) / max(total - warmup, 1)


def metrics(predictions, labels, num_labels):
  """Accuracy; for two classes binary F1 (positive class 1) and Matthews."""
  # The peer venv has no scikit-learn; by definition.
  out = dict(accuracy=sum(p == y for p, y in zip(predictions, labels))
             / len(labels))
  if num_labels == 2:
    tp = sum(p == 1 and y == 1 for p, y in zip(predictions, labels))
    precision = tp / max(sum(predictions), 1)
    recall = tp / max(sum(labels), 1)
    out['f1'] = (2 * precision * recall / (precision + recall)
                 if precision + recall else 0.0)
    tn = sum(p == 0 and y == 0 for p, y in zip(predictions, labels))
    fp = sum(predictions) - tp
    fn = sum(labels) - tp
    denominator = ((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)) ** 0.5
    out['matthews_corrcoef'] = ((tp * tn - fp * fn) / denominator
                                if denominator else 0.0)
  return out


def _build(args, num_labels=2):
  import adapters  # pylint: disable=g-import-not-at-top

  model = adapters.AutoAdapterModel.from_pretrained(args.model_dir)
  model.add_classification_head('task', num_labels=num_labels, layers=1,
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


def _optimizer(model, lr):
  """(AdamW, trainable parameters): decay 0.01 except biases and LayerNorms."""
  import torch  # pylint: disable=g-import-not-at-top

  decay, no_decay = [], []
  for name, p in model.named_parameters():
    if p.requires_grad:
      (no_decay if 'bias' in name or 'LayerNorm' in name else decay).append(p)
  optimizer = torch.optim.AdamW(
      [dict(params=decay, weight_decay=0.01),
       dict(params=no_decay, weight_decay=0.0)],
      lr=lr, eps=1e-6)
  return optimizer, decay + no_decay


def _train(args, model, optimizer, trainable, train, train_enc, batch_of):
  """(steps, seconds) of the training loop: random (or length-grouped) full
  batches, each epoch's last partial one dropped, clip 1.0, the schedule."""
  import torch  # pylint: disable=g-import-not-at-top
  # pylint: disable-next=g-import-not-at-top
  from transformers import trainer_pt_utils

  per_epoch = len(train) // args.batch_size
  total = int(len(train) * args.epochs / args.batch_size)
  if per_epoch < 1 or total < 1:
    sys.exit(f'{args.task_dir}: {len(train)} training rows give no full '
             f'batch of {args.batch_size} or no step.')
  warmup = int(0.1 * total)
  schedule = torch.optim.lr_scheduler.LambdaLR(
      optimizer, lambda step: lr_factor(args.schedule, step, total, warmup))
  generator = torch.Generator().manual_seed(args.seed)
  lengths = [len(ids) for ids in train_enc['input_ids']]

  start = time.perf_counter()
  for step in range(total):
    k = step % per_epoch
    if k == 0 and args.group_by_length:
      order = trainer_pt_utils.get_length_grouped_indices(
          lengths, args.batch_size, generator=generator)
    elif k == 0:
      order = torch.randperm(len(train), generator=generator).tolist()
    batch = batch_of(train_enc, train,
                     order[k * args.batch_size:(k + 1) * args.batch_size])
    optimizer.zero_grad(set_to_none=True)
    loss = model(**batch).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(trainable, 1.0)
    optimizer.step()
    schedule.step()
  train_seconds = time.perf_counter() - start
  return total, train_seconds


def _evaluate(model, evals, encoded, batch_of, num_labels):
  """Split -> metrics of the model's argmax predictions, batches of 128."""
  import torch  # pylint: disable=g-import-not-at-top

  model.eval()
  scores = {}
  with torch.no_grad():
    for split, rows in evals.items():
      predictions = []
      for s in range(0, len(rows), 128):
        batch = batch_of(encoded[split], rows,
                         range(s, min(s + 128, len(rows))))
        batch.pop('labels')
        predictions += model(**batch).logits.argmax(-1).tolist()
      scores[split] = metrics(predictions, [r[2] for r in rows], num_labels)
  return scores


def main(argv=None):
  args = _parse_args(argv)
  import torch  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top

  torch.set_num_threads(args.threads)
  torch.manual_seed(args.seed)
  start_all = time.perf_counter()
  tokenizer = transformers.AutoTokenizer.from_pretrained(args.model_dir)
  task, num_labels, train, evals = read_task(args.task_dir)

  def encode(rows):
    pairs = [r[1] for r in rows] if rows and rows[0][1] is not None else None
    return tokenizer([r[0] for r in rows], pairs, truncation=True,
                     max_length=args.max_length)

  train_enc = encode(train)
  eval_enc = {split: encode(rows) for split, rows in evals.items()}
  collate = transformers.DataCollatorWithPadding(tokenizer)

  def batch_of(enc, rows, indices):
    features = [{k: enc[k][i] for k in enc} for i in indices]
    batch = collate(features)
    batch['labels'] = torch.tensor([rows[i][2] for i in indices])
    return batch

  model = _build(args, num_labels)
  model.train()
  lr = args.lr or (1e-3 if args.method == 'adapter' else 5e-5)
  optimizer, trainable = _optimizer(model, lr)
  total, train_seconds = _train(args, model, optimizer, trainable, train,
                                train_enc, batch_of)

  scores = _evaluate(model, evals, eval_enc, batch_of, num_labels)
  results = dict(
      framework='adapterhub', task=args.task_name or task,
      method=args.method, m=args.m, lr=lr, epochs=args.epochs, seed=args.seed,
      schedule=args.schedule, group_by_length=args.group_by_length,
      num_labels=num_labels, train_examples=len(train),
      versions=dict(transformers=transformers.__version__,
                    torch=torch.__version__, python=platform.python_version()),
      threads=torch.get_num_threads(), steps=total,
      train_seconds=train_seconds,
      examples_per_sec=total * args.batch_size / train_seconds,
      total_seconds=time.perf_counter() - start_all, **scores)
  print(json.dumps(results, indent=2), file=sys.stderr)
  peer_io.write_json(args.out, results)


if __name__ == '__main__':
  main()
