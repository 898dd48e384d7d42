"""The GLUE report's Claims: verdicts from hand-made measurements."""

import math

from experiments import glue_study
from experiments.tables import claims

NAN = math.nan


def test_table1_gives_a_verdict_only_on_the_whole_table():
  tasks = glue_study.TASKS
  means = {'Full fine-tuning': (80.0, 0.2, 1.0, 3),
           'Adapters (8-256)': (79.8, 0.2, 0.03, 3),
           'Adapters (64)': (78.0, 0.2, 0.02, 3),
           'LayerNorm only': (76.0, 0.2, 0.001, 3)}
  lines = claims.table1(means, tasks, tasks)
  assert lines[0].endswith('reproduced.') and '(-0.2 points' in lines[0]
  assert lines[1].endswith('not reproduced.')  # -2.0 vs the paper's -0.8.
  assert lines[2].endswith(': reproduced.')    # -4.0: LayerNorm behind.
  # Twice the paper's gap is not the paper's claim.
  far = dict(means, **{'LayerNorm only': (72.0, 0.2, 0.001, 3)})
  assert claims.table1(far, tasks, tasks)[2].endswith('not reproduced.')
  means['Full fine-tuning'] = (80.0, 0.2, 1.0, 2)
  assert all('provisional' in line
             for line in claims.table1(means, tasks, tasks))
  assert all('provisional' in line
             for line in claims.table1(means, tasks[:2], tasks))


def _curve(adapter, top_k, full=(2e7, 85.0, 0.5, 3)):
  return {'adapter': adapter, 'top_k': top_k, 'full': [full]}


def test_curves_hold_when_cheaper_adapters_match_every_top_k_size():
  # Top-k at 2M scores 84.0; adapters at 0.6M score 83.5 with stds 1.0 and
  # 0.8: the gap 0.5 is inside the pooled std sqrt((1 + 0.64) / 2) = 0.91.
  matched = _curve([(1e4, 80.0, 1.0, 3), (6e5, 83.5, 1.0, 3)],
                   [(2e6, 84.0, 0.8, 3), (6e6, 84.0, 0.8, 3)])
  lines = claims.curves({'mrpc': matched, 'cola': matched}, ('mrpc', 'cola'))
  assert lines[0].endswith('Ours: reproduced.')
  assert '10k -5.0, 0.60M -1.5' in lines[1]
  assert lines[1].endswith('scores as well within noise.')
  # The same, but top-k at 2M scores 86.0: 2.5 points, far outside noise.
  beaten = _curve([(1e4, 80.0, 1.0, 3), (6e5, 83.5, 1.0, 3)],
                  [(2e6, 86.0, 0.8, 3)])
  lines = claims.curves({'mrpc': matched, 'cola': beaten}, ('mrpc', 'cola'))
  assert lines[0].endswith('Ours: not reproduced.')
  assert 'Top-k beats every adapter as small at 2.00M.' in lines[2]
  # A top-k size with no adapter as small counts against the claim too.
  none_smaller = _curve([(3e6, 90.0, 0.1, 3)], [(2e6, 80.0, 0.1, 3)])
  assert 'not reproduced' in claims.curves({'mrpc': none_smaller},
                                           ('mrpc',))[0]


def test_curves_stay_provisional_without_seeds_or_tasks():
  one_seed = _curve([(6e5, 83.5, NAN, 1)], [(2e6, 84.0, NAN, 1)],
                    (2e7, 85.0, NAN, 1))
  line = claims.curves({'mrpc': one_seed}, ('mrpc',))[0]
  assert 'provisional, no verdict yet (1 of 1 tasks, 1 seed(s))' in line
  # One seed has no spread: an adapter ahead is not said to be within noise.
  ahead = _curve([(6e5, 85.0, NAN, 1)], [(2e6, 84.0, NAN, 1)],
                 (2e7, 85.0, NAN, 1))
  detail = claims.curves({'mrpc': ahead}, ('mrpc',))[1]
  assert detail.endswith('scores at least as well (one seed: no spread yet).')
  three = _curve([(6e5, 83.5, 1.0, 3)], [(2e6, 84.0, 1.0, 3)])
  line = claims.curves({'mrpc': three}, ('mrpc', 'cola'))[0]
  assert '(1 of 2 tasks, 3 seed(s))' in line
  assert 'Not measured yet' in claims.curves(
      {'mrpc': {'adapter': [(6e5, 83.5, 1.0, 3)]}}, ('mrpc',))[0]


def test_init_scale_robust_within_noise_and_reports_degradation():
  by_sigma = {1e-7: (84.0, 1.0, 3), 1e-5: (84.5, 1.0, 3),
              1e-3: (85.0, 1.0, 3), 1e-2: (84.2, 1.0, 3),
              1e-1: (84.3, 1.0, 3), 1.0: (70.0, 2.0, 3)}
  lines = claims.init_scale({'mrpc': by_sigma})
  assert lines[0].endswith('Ours (robustness): reproduced.')
  assert 'Every σ <= 0.01 within noise of σ=0.001.' in lines[1]
  assert 'Larger σ worse beyond noise at 1.' in lines[1]  # Not at 0.1.
  by_sigma[1e-7] = (80.0, 1.0, 3)
  lines = claims.init_scale({'mrpc': by_sigma})
  assert lines[0].endswith('not reproduced.')
  assert 'Outside noise at σ=1e-07.' in lines[1]
  two_seeds = {s: (m, sd, 2) for s, (m, sd, _) in by_sigma.items()}
  assert 'provisional' in claims.init_scale({'mrpc': two_seeds})[0]


def test_ablation_verdict_is_the_pooler_heads_and_names_the_other():
  pooler = dict(worst_layer=5, worst_delta=-6.0, worst_std=2.0,
                all_removed_delta=-6.2)
  mean = dict(worst_layer=2, worst_delta=-1.0, worst_std=0.5,
              all_removed_delta=-20.0, single_deltas=[0.5, -0.2, -1.0, -2.5])
  lines = claims.ablation({'pooler': (pooler, 3), 'mean': (mean, 3)})
  assert lines[0].endswith('worst single layer 5 -6.0 ± 2.0 points, all '
                           'layers -6.2 (3 seed(s)): not reproduced.')
  assert lines[1] == ('  - With a mean-pooling head: worst single layer 2 '
                      '-1.0 ± 0.5 points, all layers -20.0 (3 seed(s)); 3 of '
                      "4 single layers within 2 points (seeds' mean).")
  # -2.5 is within noise of -2: the bound is -2 - 1.0 / sqrt(3) = -2.58.
  pooler.update(worst_delta=-2.5, worst_std=1.0)
  assert claims.ablation({'pooler': (pooler, 3)})[0].endswith(
      ': reproduced.')
  assert 'provisional' in claims.ablation({'pooler': (pooler, 1)})[0]
  assert claims.ablation({})[0].endswith('Not measured yet.')
