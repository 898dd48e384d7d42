"""The GLUE tasks as data: columns, labels, files, metrics and submission names.

One frozen `GlueTask` per task replaces per-task code: every loader, the
metrics and the submission writer read what they need from this table.
"""

import dataclasses
import types
from collections.abc import Mapping


@dataclasses.dataclass(frozen=True)
class GlueFile:
  """One split's TSV in the classic GLUE download layout.

  Attributes:
    path: path relative to the GLUE directory, e.g. 'RTE/train.tsv'.
    columns: column names for a file without a header row (CoLA train/dev);
      None when the first row is the header.
  """

  path: str
  columns: tuple[str, ...] | None = None


@dataclasses.dataclass(frozen=True)
class GlueTask:
  """What a GLUE task is, as data.

  Attributes:
    name: lower-case lookup name ('rte', 'sst2').
    display_name: GLUE's spelling ('RTE', 'SST-2').
    text_columns: TSV header names of text_a and, for pair tasks, text_b.
    label_column: TSV header name of the label; test files lack it.
    index_column: TSV column with the row id GLUE submissions are keyed by;
      files without it (SST-2/CoLA/MRPC train and dev) use the row number.
    label_names: class names in GLUE's id order; None for regression (STS-B).
    metric_names: names understood by `adapter_bert.metrics.compute_metrics`.
    files: split name (TFDS naming) -> file in the GLUE directory.
    submission_files: test split -> file name the GLUE server expects.
    tfds_name: TFDS dataset name.
    tfds_text_features: TFDS feature names of text_a (and text_b).
  """

  name: str
  display_name: str
  text_columns: tuple[str, ...]
  label_column: str | None
  index_column: str
  label_names: tuple[str, ...] | None
  metric_names: tuple[str, ...]
  files: Mapping[str, GlueFile]
  submission_files: Mapping[str, str]
  tfds_name: str
  tfds_text_features: tuple[str, ...]

  @property
  def is_regression(self) -> bool:
    return self.label_names is None

  @property
  def num_labels(self) -> int:
    """Width of the output layer: 1 for regression, else the class count."""
    return 1 if self.label_names is None else len(self.label_names)

  @property
  def is_pair(self) -> bool:
    return len(self.text_columns) == 2

  @property
  def splits(self) -> tuple[str, ...]:
    return tuple(self.files)

  def file(self, split: str) -> GlueFile:
    """The file holding `split`; ValueError naming the valid splits."""
    if split not in self.files:
      raise ValueError(f'{self.display_name} has no split {split!r}; valid '
                       f'splits: {", ".join(self.files)}.')
    return self.files[split]


def _frozen(mapping: Mapping) -> Mapping:
  return types.MappingProxyType(dict(mapping))


def _standard_files(directory: str, **overrides: GlueFile) -> Mapping:
  files = {
      'train': GlueFile(f'{directory}/train.tsv'),
      'validation': GlueFile(f'{directory}/dev.tsv'),
      'test': GlueFile(f'{directory}/test.tsv'),
  }
  files.update(overrides)
  return _frozen(files)


_BINARY = ('0', '1')
_NLI = ('entailment', 'neutral', 'contradiction')
_ENTAILMENT = ('entailment', 'not_entailment')
# CoLA train/dev have no header row; these names are GLUE's documentation.
_COLA_COLUMNS = ('source', 'label', 'mark', 'sentence')

_TASKS = (
    GlueTask(
        name='cola',
        display_name='CoLA',
        text_columns=('sentence',),
        label_column='label',
        index_column='index',
        label_names=_BINARY,
        metric_names=('matthews_corrcoef',),
        files=_standard_files(
            'CoLA',
            train=GlueFile('CoLA/train.tsv', columns=_COLA_COLUMNS),
            validation=GlueFile('CoLA/dev.tsv', columns=_COLA_COLUMNS)),
        submission_files=_frozen({'test': 'CoLA.tsv'}),
        tfds_name='glue/cola',
        tfds_text_features=('sentence',)),
    GlueTask(
        name='sst2',
        display_name='SST-2',
        text_columns=('sentence',),
        label_column='label',
        index_column='index',
        label_names=_BINARY,
        metric_names=('accuracy',),
        files=_standard_files('SST-2'),
        submission_files=_frozen({'test': 'SST-2.tsv'}),
        tfds_name='glue/sst2',
        tfds_text_features=('sentence',)),
    GlueTask(
        name='mrpc',
        display_name='MRPC',
        text_columns=('#1 String', '#2 String'),
        label_column='Quality',
        index_column='index',
        label_names=_BINARY,
        metric_names=('f1', 'accuracy'),
        files=_standard_files('MRPC'),
        submission_files=_frozen({'test': 'MRPC.tsv'}),
        tfds_name='glue/mrpc',
        tfds_text_features=('sentence1', 'sentence2')),
    GlueTask(
        name='stsb',
        display_name='STS-B',
        text_columns=('sentence1', 'sentence2'),
        label_column='score',
        index_column='index',
        label_names=None,
        metric_names=('pearson', 'spearman'),
        files=_standard_files('STS-B'),
        submission_files=_frozen({'test': 'STS-B.tsv'}),
        tfds_name='glue/stsb',
        tfds_text_features=('sentence1', 'sentence2')),
    GlueTask(
        name='qqp',
        display_name='QQP',
        text_columns=('question1', 'question2'),
        label_column='is_duplicate',
        index_column='id',
        label_names=_BINARY,
        metric_names=('f1', 'accuracy'),
        files=_standard_files('QQP'),
        submission_files=_frozen({'test': 'QQP.tsv'}),
        tfds_name='glue/qqp',
        tfds_text_features=('question1', 'question2')),
    GlueTask(
        name='mnli',
        display_name='MNLI',
        text_columns=('sentence1', 'sentence2'),
        label_column='gold_label',
        index_column='index',
        label_names=_NLI,
        metric_names=('accuracy',),
        files=_frozen({
            'train': GlueFile('MNLI/train.tsv'),
            'validation_matched': GlueFile('MNLI/dev_matched.tsv'),
            'validation_mismatched': GlueFile('MNLI/dev_mismatched.tsv'),
            'test_matched': GlueFile('MNLI/test_matched.tsv'),
            'test_mismatched': GlueFile('MNLI/test_mismatched.tsv'),
        }),
        submission_files=_frozen({
            'test_matched': 'MNLI-m.tsv',
            'test_mismatched': 'MNLI-mm.tsv',
        }),
        tfds_name='glue/mnli',
        tfds_text_features=('premise', 'hypothesis')),
    GlueTask(
        name='qnli',
        display_name='QNLI',
        text_columns=('question', 'sentence'),
        label_column='label',
        index_column='index',
        label_names=_ENTAILMENT,
        metric_names=('accuracy',),
        files=_standard_files('QNLI'),
        submission_files=_frozen({'test': 'QNLI.tsv'}),
        tfds_name='glue/qnli',
        tfds_text_features=('question', 'sentence')),
    GlueTask(
        name='rte',
        display_name='RTE',
        text_columns=('sentence1', 'sentence2'),
        label_column='label',
        index_column='index',
        label_names=_ENTAILMENT,
        metric_names=('accuracy',),
        files=_standard_files('RTE'),
        submission_files=_frozen({'test': 'RTE.tsv'}),
        tfds_name='glue/rte',
        tfds_text_features=('sentence1', 'sentence2')),
    GlueTask(
        name='wnli',
        display_name='WNLI',
        text_columns=('sentence1', 'sentence2'),
        label_column='label',
        index_column='index',
        label_names=_BINARY,
        metric_names=('accuracy',),
        files=_standard_files('WNLI'),
        submission_files=_frozen({'test': 'WNLI.tsv'}),
        tfds_name='glue/wnli',
        tfds_text_features=('sentence1', 'sentence2')),
    # The diagnostic set: test only, predicted with an MNLI model, scored by
    # the GLUE server with Matthews correlation (R3).
    GlueTask(
        name='ax',
        display_name='AX',
        text_columns=('sentence1', 'sentence2'),
        label_column=None,
        index_column='index',
        label_names=_NLI,
        metric_names=('matthews_corrcoef',),
        files=_frozen({'test': GlueFile('diagnostic/diagnostic.tsv')}),
        submission_files=_frozen({'test': 'AX.tsv'}),
        tfds_name='glue/ax',
        tfds_text_features=('premise', 'hypothesis')),
)

TASKS: Mapping[str, GlueTask] = _frozen({t.name: t for t in _TASKS})


def _normalize(name: str) -> str:
  return name.lower().replace('-', '').replace('_', '')


def get_task(name: str) -> GlueTask:
  """Looks a task up by name, ignoring case, '-' and '_' ('SST-2' == 'sst2')."""
  task = TASKS.get(_normalize(name))
  if task is None:
    raise ValueError(f'Unknown GLUE task {name!r}; valid names: '
                     f'{", ".join(TASKS)}.')
  return task
