r"""AdapterHub (PyTorch) peer of experiments/benchmark.py: one training step.

Runs in its own virtual environment (experiments/adapterhub/requirements.txt:
adapters, transformers 4.57, torch), never in the project's, so it imports
neither adapter_bert nor absl. experiments/adapterhub/peer_env.py builds that
venv, and benchmark.py calls

  <peer-venv>/bin/python experiments/adapterhub/peer_step.py --model_dir=DIR \
      --batch_size=32 --seq_len=128 --steps=10 --methods=adapter,full \
      --out=peer.json

Same backbone weights (an HF directory) or, with --random_config='{json}', the
same shapes with random weights; a Houlsby adapter (DoubleSeqBnConfig: after
attention and FFN, reduction factor hidden/m) with the original LayerNorms and
the head trainable (as adapter_bert's method `adapter`); full fine-tuning of the
model without adapters for the peer's own ratio. A step is forward, backward,
global-norm clipping and AdamW, as adapter_bert's train step.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

# Run as a script in the peer venv: its sibling peer_io.py is importable.
import peer_io  # pylint: disable=g-bad-import-order


def _parse_args(argv):
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  source = parser.add_mutually_exclusive_group(required=True)
  source.add_argument('--model_dir', help='HF BERT directory (pretrained).')
  source.add_argument('--random_config',
                      help='HF BertConfig keys as JSON: random weights.')
  parser.add_argument('--batch_size', type=int, default=32)
  parser.add_argument('--seq_len', type=int, default=128)
  parser.add_argument('--steps', type=int, default=10)
  parser.add_argument('--methods', default='adapter,full')
  parser.add_argument('--m', type=int, default=64, help='Bottleneck size.')
  parser.add_argument('--num_labels', type=int, default=2)
  parser.add_argument('--threads', type=int,
                      default=len(os.sched_getaffinity(0)),
                      help='Default: the cores this process may run on '
                      '(taskset), not all of the machine\'s.')
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--out', required=True, help='JSON results path.')
  return parser.parse_args(argv)


def _build(args, method):
  """BertAdapterModel + classification head, trainable as `method` asks."""
  import adapters  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top

  if args.model_dir:
    model = adapters.AutoAdapterModel.from_pretrained(args.model_dir)
  else:
    config = transformers.BertConfig(**json.loads(args.random_config))
    model = adapters.BertAdapterModel(config)
  hidden = model.config.hidden_size
  # Two head layers (dense+tanh, dense) match adapter_bert's pooler+classifier
  # in compute; the peer trains its first one, adapter_bert freezes the pooler.
  model.add_classification_head('bench', num_labels=args.num_labels, layers=2)
  if method == 'adapter':
    model.add_adapter('bench', config=adapters.DoubleSeqBnConfig(
        reduction_factor=hidden / args.m, non_linearity='gelu_new'))
    model.train_adapter('bench')  # Freezes the backbone; the head trains.
    for name, p in model.named_parameters():
      if 'LayerNorm' in name:  # Houlsby et al. train the layer norms too.
        p.requires_grad = True
  elif method == 'full':
    model.active_head = 'bench'
    for p in model.parameters():
      p.requires_grad = True
  else:
    raise ValueError(f'Unknown method {method!r}; use adapter or full.')
  model.train()
  return model


def _time_method(args, method):
  import torch  # pylint: disable=g-import-not-at-top

  torch.manual_seed(args.seed)
  model = _build(args, method)
  trainable = [p for p in model.parameters() if p.requires_grad]
  total = sum(p.numel() for p in model.parameters())
  optimizer = torch.optim.AdamW(
      trainable, lr=1e-3 if method == 'adapter' else 5e-5, weight_decay=0.01,
      eps=1e-6)
  g = torch.Generator().manual_seed(args.seed)
  vocab = model.config.vocab_size
  shape = (args.batch_size, args.seq_len)
  batch = dict(
      input_ids=torch.randint(0, vocab, shape, generator=g),
      token_type_ids=(torch.arange(args.seq_len) >= args.seq_len // 2).long()
      .expand(shape).contiguous(),
      attention_mask=torch.ones(shape, dtype=torch.long),
      labels=torch.randint(0, args.num_labels, (args.batch_size,),
                           generator=g))

  def step():
    optimizer.zero_grad(set_to_none=True)
    loss = model(**batch).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(trainable, 1.0)
    optimizer.step()
    return loss.detach().item()

  start = time.perf_counter()
  step()
  first = time.perf_counter() - start
  times = []
  for _ in range(args.steps):
    start = time.perf_counter()
    step()
    times.append(time.perf_counter() - start)
  median = statistics.median(times)
  opt_bytes = sum(t.numel() * t.element_size()
                  for s in optimizer.state.values() for t in s.values()
                  if torch.is_tensor(t))
  return dict(
      examples_per_sec=args.batch_size / median,
      step_s=dict(median=median, min=min(times), max=max(times), all=times),
      first_step_s=first,
      trainable_params=sum(p.numel() for p in trainable),
      total_params=total,
      opt_state_bytes=opt_bytes,
      attn_implementation=getattr(model.config, '_attn_implementation', None))


def main(argv=None):
  args = _parse_args(argv)
  if args.steps < 1:
    raise ValueError(f'--steps must be positive, got {args.steps}.')
  import adapters  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top

  torch.set_num_threads(args.threads)
  results = dict(
      framework='adapterhub',
      versions=dict(adapters=adapters.__version__,
                    transformers=transformers.__version__,
                    torch=torch.__version__, python=platform.python_version()),
      device=dict(platform='cpu', threads=torch.get_num_threads(),
                  cpu_count=os.cpu_count()),
      weights='pretrained' if args.model_dir else 'random',
      batch_size=args.batch_size, seq_len=args.seq_len, steps=args.steps,
      m=args.m, methods={})
  for method in args.methods.split(','):
    results['methods'][method] = _time_method(args, method)
    print(f"peer {method}: "
          f"{results['methods'][method]['examples_per_sec']:.1f} examples/s",
          file=sys.stderr)
  peer_io.write_json(args.out, results)


if __name__ == '__main__':
  main()
