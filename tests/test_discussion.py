"""The hand-written discussion's numbers are checked against the report."""

from experiments.tables import discussion


def test_numbers_are_unsigned_decimals_in_order():
  text = ('Adapters 86.9 ± 0.7 vs −1.2 and +1.4 points (2.05%); '
          'lr 3e-4, 12 layers, v1.3.0, 0.0001, 86.9 again.')
  assert discussion.numbers(text) == ['86.9', '0.7', '1.2', '1.4', '2.05',
                                      '0.0001']


def test_stale_numbers_are_those_the_report_lacks():
  report = '| MRPC | 86.9 ± 0.7 | gap -1.2 |'
  assert discussion.stale_numbers('86.9, a gap of 1.2 and 3.5', report) == [
      '3.5']


def test_section_marks_stale_numbers_and_is_empty_without_a_file(tmp_path):
  assert discussion.section(str(tmp_path / 'discussion.md'), 'x') == []
  path = tmp_path / 'discussion.md'
  path.write_text('LayerNorm only scores 52.7, the majority class (52.7).\n'
                  'It was 55.0 before.\n')
  lines = discussion.section(str(path), 'RTE 52.7')
  assert lines[0] == discussion.HEADING
  assert ('**Stale:** 55.0 no longer appear in the tables above; the text '
          'below predates the runs that changed them.') in lines
  fresh = discussion.section(str(path), 'RTE 52.7, 55.0')
  assert not any(l.startswith('**Stale') for l in fresh)
  assert fresh[-2].endswith('It was 55.0 before.')
