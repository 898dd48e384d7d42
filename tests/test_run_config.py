"""How a run's recorded config is compared with a resumption or a request."""

from adapter_bert import run_config


def test_resuming_ignores_resumable_keys_and_keys_added_later():
  recorded = {'lr': 1e-3, 'predict': False, 'log_every': 10,
              'schedule': 'official'}
  current = dict(recorded, predict=True, log_every=1, new_key=3)
  assert run_config.changed_keys(recorded, current, resuming=True) == {}
  # Reusing a finished run instead: it wrote no test predictions.
  assert run_config.changed_keys(recorded, current) == {
      'predict': (False, True)}


def test_a_checkpoint_made_before_the_schedule_key_used_hf_schedule():
  recorded = {'lr': 1e-3}
  current = {'lr': 1e-3, 'schedule': 'official'}
  expected = {'schedule': ('linear', 'official')}
  assert run_config.changed_keys(recorded, current, resuming=True) == expected
  assert run_config.changed_keys(recorded, current,
                                 defaults={'schedule': 'official'}) == expected
  assert run_config.changed_keys(recorded, dict(current, schedule='linear'),
                                 resuming=True) == {}


def test_nested_keys_and_defaults_of_keys_added_later():
  recorded = {'csv': {'path': 'a.csv'}, 'lr': 1e-3}
  current = {'csv': {'path': 'b.csv'}, 'lr': 1e-3, 'group_by_length': True}
  assert run_config.changed_keys(
      recorded, current, defaults={'group_by_length': False}) == {
          'csv.path': ('a.csv', 'b.csv'), 'group_by_length': (False, True)}
  # A run that predicted serves a request without predictions.
  assert run_config.changed_keys({'predict': True}, {'predict': False}) == {}
