"""SQuAD v1.1 runs: EM / F1, trained share and time, the paper's dev F1."""

from __future__ import annotations

import math
from typing import Sequence

from experiments import paper_results
from experiments import selection
from experiments.tables import common

Result = selection.Result


def table(results: Sequence[Result]) -> common.Table:
  """SQuAD runs: EM / F1 (already x100), trained share, time; paper's F1."""
  header = ['Method', 'Size', 'Split', 'EM', 'F1', 'Trained', 'Train s',
            'Paper dev F1 (BERT-base, SQuAD train)']
  rows = []
  for r in sorted(results, key=lambda r: (common.method_rank(r['method']),
                                          selection.size(r) or 0, r['run'])):
    dev = r.get('dev') or {}
    size = selection.size(r)
    key = 'full' if r['method'] == 'full' else f'adapter_m{size}'
    paper = paper_results.SQUAD_DEV_F1.get(key)
    holdout = ((r.get('config') or {}).get('squad') or {}).get(
        'holdout_articles', 0)
    rows.append([common.method_label(r['method']),
                 '-' if size is None else f'm={size}',
                 f'last {holdout} dev articles held out' if holdout
                 else 'dev',
                 f'{dev.get("exact_match", math.nan):.1f}',
                 f'{dev.get("f1", math.nan):.1f}',
                 f'{100 * common.trainable_share(r):.2f}%',
                 f'{float(r.get("train_seconds", 0)):.0f}',
                 '-' if paper is None else f'{paper:.1f}'])
  return header, rows
