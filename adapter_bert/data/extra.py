"""The paper's extra text-classification datasets (Table 2), and any CSV/TSV.

Each dataset is a registry entry (`ExtraDataset`): its file(s), columns,
encoding and how raw label values merge into classes. Sources publish these
sets unsplit, so we make deterministic stratified 80/10/10 splits with a fixed
seed (the paper made its own ~80/10/10 splits; its seeds are unknown); the
splits are stable for a given scikit-learn version.
A dataset with separate train/test files (20 Newsgroups) keeps its test file
and takes validation from train. Rows whose label is empty or unmapped, or
whose text is empty, are dropped and counted.

The data is not vendored: pass `data_dir`, set ADAPTER_BERT_EXTRA_DIR, or keep
it in `../shared/data/extra` beside the repository.
"""

import collections
import csv
import dataclasses
import logging
import os
import re
import types
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn import model_selection

from adapter_bert.data import examples as examples_lib

ENV_VAR = 'ADAPTER_BERT_EXTRA_DIR'
EMPTY_TEXT = '<empty text>'
DEFAULT_SEED = 0


@dataclasses.dataclass(frozen=True)
class ExtraDataset:
  """How to read one classification dataset from its published file(s).

  Attributes:
    name: registry key.
    files: 'all' -> the single unsplit file, or 'train'/'test' -> files of a
      published split; paths are relative to the extra-data directory.
    text_columns: one column (or two, for a text pair).
    label_column: column holding the raw label.
    label_map: raw label (after `label_pattern`, whitespace-stripped) -> class
      name. Unmapped values are dropped. None keeps every non-empty value.
    label_pattern: optional regex; its first group, matched at the start of
      the raw label, replaces the raw label (for long CrowdFlower answers).
    delimiter, encoding, encoding_errors, quoting: passed to the CSV reader.
    column_names: names for a file without a header row.
    source: where the dataset is published.
    notes: caveats (e.g. which column the paper's label most likely was).
  """

  name: str
  files: Mapping[str, str]
  text_columns: tuple[str, ...]
  label_column: str
  label_map: Mapping[str, str] | None = None
  label_pattern: str | None = None
  delimiter: str = ','
  encoding: str = 'utf-8'
  encoding_errors: str = 'strict'
  quoting: int = csv.QUOTE_MINIMAL
  column_names: tuple[str, ...] | None = None
  source: str = ''
  notes: str = ''


@dataclasses.dataclass
class LabeledTable:
  """One file's usable rows, before splitting.

  Attributes:
    texts: one list per text column.
    labels: class name of each kept row.
    rows: 0-based data-row number of each kept row in the file.
    dropped: raw label (or EMPTY_TEXT) -> number of rows dropped for it.
  """

  texts: list[list[str]]
  labels: list[str]
  rows: np.ndarray
  dropped: collections.Counter

  def __len__(self) -> int:
    return len(self.labels)


def read_labeled_table(path: str, dataset: ExtraDataset) -> LabeledTable:
  """Reads a CSV/TSV and applies the dataset's label rules.

  pandas' C parser handles CR-only, LF and CRLF records and newlines inside
  quoted fields; every cell is read as a string ('NA' stays 'NA').
  """
  try:
    frame = pd.read_csv(
        path,
        sep=dataset.delimiter,
        encoding=dataset.encoding,
        encoding_errors=dataset.encoding_errors,
        quoting=dataset.quoting,
        header=None if dataset.column_names else 'infer',
        names=list(dataset.column_names) if dataset.column_names else None,
        dtype=str,
        keep_default_na=False,
        na_filter=False)
  except (UnicodeDecodeError, pd.errors.ParserError,
          pd.errors.EmptyDataError) as e:
    raise ValueError(f'{path}: cannot parse as {dataset.encoding} '
                     f'{dataset.delimiter!r}-separated text: {e}') from e
  needed = list(dataset.text_columns) + [dataset.label_column]
  missing = [c for c in needed if c not in frame.columns]
  if missing:
    raise ValueError(f'{path}: no column(s) {missing}; columns are '
                     f'{list(frame.columns)}.')

  raw = frame[dataset.label_column].str.strip()
  if dataset.label_pattern is not None:
    extracted = raw.str.extract(f'^(?:{dataset.label_pattern})',
                                flags=re.DOTALL)[0]
    raw = extracted.where(extracted.notna(), '')
  if dataset.label_map is not None:
    labels = raw.map(dict(dataset.label_map))
  else:
    labels = raw.where(raw != '')
  text_frame = frame[list(dataset.text_columns)]
  empty_text = (text_frame.apply(lambda c: c.str.strip() == '')).any(axis=1)
  keep = labels.notna() & ~empty_text

  dropped = collections.Counter(
      frame.loc[labels.isna(), dataset.label_column].tolist())
  empty_text_rows = int((empty_text & labels.notna()).sum())
  if empty_text_rows:
    dropped[EMPTY_TEXT] = empty_text_rows
  return LabeledTable(
      texts=[text_frame[c][keep].tolist() for c in dataset.text_columns],
      labels=labels[keep].tolist(),
      rows=np.flatnonzero(keep.to_numpy()).astype(np.int64),
      dropped=dropped)


def stratified_split(labels: Sequence[str] | np.ndarray, seed: int,
                     holdout_fractions: Sequence[float] = (0.1, 0.1)
                     ) -> list[np.ndarray]:
  """Deterministic stratified split of positions 0..N-1.

  Args:
    labels: class of each position.
    seed: random_state for scikit-learn.
    holdout_fractions: fractions of N for the held-out parts; (0.1, 0.1)
      gives [train 80%, validation 10%, test 10%], (0.1,) gives [90%, 10%].

  Returns:
    Sorted position arrays: the remainder first, then one per fraction.
  """
  labels = np.asarray(labels)
  remaining = np.arange(len(labels))
  parts = []
  remaining_fraction = 1.0
  for fraction in holdout_fractions:
    try:
      keep, held_out = model_selection.train_test_split(
          remaining, test_size=fraction / remaining_fraction,
          stratify=labels[remaining], random_state=seed)
    except ValueError as e:
      smallest = collections.Counter(labels.tolist()).most_common()[-3:]
      raise ValueError(f'Stratified split failed: {e} Smallest classes: '
                       f'{smallest}; drop or merge rare classes with a '
                       'label_map.') from e
    parts.append(np.sort(held_out))
    remaining = keep
    remaining_fraction -= fraction
  return [np.sort(remaining)] + parts


def _table_examples(table: LabeledTable, label_ids: Mapping[str, int],
                    label_names: tuple[str, ...]) -> examples_lib.Examples:
  return examples_lib.Examples(
      text_a=table.texts[0],
      text_b=table.texts[1] if len(table.texts) > 1 else None,
      labels=np.asarray([label_ids[l] for l in table.labels], np.int32),
      index=table.rows,
      label_names=label_names)


def default_extra_dir() -> str | None:
  """$ADAPTER_BERT_EXTRA_DIR, else `<repo>/../shared/data/extra` if present."""
  if os.environ.get(ENV_VAR):
    return os.environ[ENV_VAR]
  repo = os.path.dirname(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__))))
  shared = os.path.join(os.path.dirname(repo), 'shared', 'data', 'extra')
  return shared if os.path.isdir(shared) else None


def _file_path(dataset: ExtraDataset, key: str, data_dir: str | None) -> str:
  if data_dir is None:
    raise FileNotFoundError(
        f'No directory for the extra datasets: pass data_dir or set {ENV_VAR} '
        f'(expected file for {dataset.name!r}: {dataset.files[key]}).')
  path = os.path.join(data_dir, dataset.files[key])
  if not os.path.isfile(path):
    raise FileNotFoundError(
        f'{dataset.name}: {path} not found. Put the file '
        f'{os.path.basename(path)} (published at {dataset.source}) at '
        f'{dataset.files[key]} under {data_dir}.')
  return path


def read_extra_tables(dataset: ExtraDataset | str,
                      data_dir: str | None = None) -> dict[str, LabeledTable]:
  """Reads every file of a dataset ('all', or 'train' and 'test')."""
  if isinstance(dataset, str):
    dataset = get_extra_dataset(dataset)
  data_dir = data_dir or default_extra_dir()
  return {key: read_labeled_table(_file_path(dataset, key, data_dir), dataset)
          for key in dataset.files}


def load_extra_splits(dataset: ExtraDataset | str,
                      data_dir: str | None = None,
                      seed: int = DEFAULT_SEED
                      ) -> dict[str, examples_lib.Examples]:
  """Loads a dataset as {'train', 'validation', 'test'} Examples.

  Class ids follow the sorted class names (`Examples.label_names`), shared by
  all splits. `Examples.index` holds each row's data-row number in its file.

  Args:
    dataset: a registry name (see `EXTRA_DATASETS`) or an `ExtraDataset` for
      your own CSV/TSV.
    data_dir: directory holding the files; default `default_extra_dir()`.
    seed: split seed; the default reproduces this repository's splits.
  """
  if isinstance(dataset, str):
    dataset = get_extra_dataset(dataset)
  tables = read_extra_tables(dataset, data_dir)
  label_names = tuple(sorted({l for t in tables.values() for l in t.labels}))
  if not label_names:
    raise ValueError(f'{dataset.name}: no rows with a usable label and text.')
  label_ids = {name: i for i, name in enumerate(label_names)}
  for key, table in tables.items():
    logging.info('%s/%s: kept %d rows, dropped %d %s', dataset.name, key,
                 len(table), sum(table.dropped.values()), dict(table.dropped))

  if set(tables) == {'all'}:
    table = tables['all']
    parts = stratified_split(table.labels, seed, (0.1, 0.1))
    full = _table_examples(table, label_ids, label_names)
    return {split: full.select(rows)
            for split, rows in zip(('train', 'validation', 'test'), parts)}
  if set(tables) == {'train', 'test'}:
    train = _table_examples(tables['train'], label_ids, label_names)
    train_rows, validation_rows = stratified_split(
        tables['train'].labels, seed, (0.1,))
    return {
        'train': train.select(train_rows),
        'validation': train.select(validation_rows),
        'test': _table_examples(tables['test'], label_ids, label_names),
    }
  raise ValueError(f'{dataset.name}: files must be {{"all"}} or '
                   f'{{"train", "test"}}, got {sorted(tables)}.')


def _crowdflower(slug: str) -> str:
  return (f'CrowdFlower "Data for Everyone" (https://data.world/crowdflower/'
          f'{slug})')


_PROGRESSIVE_FILE = 'progressive/progressive-tweet-sentiment.csv'
_PROGRESSIVE_Q1 = ('q1_from_reading_the_tweet_which_of_the_options_below_is_'
                   'most_likely_to_be_true_about_the_stance_or_outlook_of_the_'
                   'tweeter_towards_the_target')
_PROGRESSIVE_Q2 = ('q2_which_of_the_options_below_is_true_about_the_opinion_'
                   'in_the_tweet')
_POLITICAL_FILE = 'political_social_media/political_social_media.csv'

_DATASETS = (
    ExtraDataset(
        name='20_newsgroups',
        files={'train': '20_newsgroups/20news-bydate-train.csv',
               'test': '20_newsgroups/20news-bydate-test.csv'},
        text_columns=('text',), label_column='label',
        source=('http://qwone.com/~jason/20Newsgroups/ (20news-bydate), as '
                'CSV with columns id,label,text'),
        notes=('The paper pooled all 18,846 posts into its own 80/10/10 '
               'split; here the by-date test set is kept and validation is '
               '10% of train.')),
    ExtraDataset(
        name='crowdflower_airline',
        files={'all': 'airline/Tweets.csv'},
        text_columns=('text',), label_column='airline_sentiment',
        source=('Twitter US Airline Sentiment, https://www.kaggle.com/'
                'datasets/crowdflower/twitter-airline-sentiment (Tweets.csv)'),
        notes='Not verified here (file absent); 14,640 rows, 3 classes.'),
    ExtraDataset(
        name='corporate_messaging',
        files={'all': 'corporate_messaging/Corporate-messaging-DFE.csv'},
        text_columns=('text',), label_column='category', encoding='latin-1',
        source=_crowdflower('corporate-messaging')),
    ExtraDataset(
        name='disasters',
        files={'all': 'disasters/socialmedia-disaster-tweets-DFE.csv'},
        text_columns=('text',), label_column='choose_one', encoding='latin-1',
        label_map={'Relevant': 'relevant', 'Not Relevant': 'not_relevant'},
        source=_crowdflower('disasters-on-social-media'),
        notes="The 16 \"Can't Decide\" rows are dropped (2 classes)."),
    ExtraDataset(
        name='economic_news',
        files={'all': 'economic_news/Full-Economic-News-DFE-839861.csv'},
        text_columns=('text',), label_column='relevance', encoding='latin-1',
        label_map={'yes': 'yes', 'no': 'no'},
        source=_crowdflower('economic-news-article-tone'),
        notes=('Not verified here (file absent). Relevance yes/no; "not sure" '
               'dropped (2 classes).')),
    ExtraDataset(
        name='emotion',
        files={'all': 'emotion/text_emotion.csv'},
        text_columns=('content',), label_column='sentiment',
        encoding_errors='replace',
        source=_crowdflower('sentiment-analysis-in-text'),
        notes='Not verified here (file absent); 40,000 rows, 13 classes.'),
    ExtraDataset(
        name='global_warming',
        files={'all': 'global_warming/1377884570_tweet_global_warming.csv'},
        text_columns=('tweet',), label_column='existence', encoding='cp1252',
        label_map={'Y': 'yes', 'Yes': 'yes', 'N': 'no', 'No': 'no'},
        source=_crowdflower('global-warming-climate-change'),
        notes=('Y/Yes -> yes, N/No -> no; NA, N/A and empty dropped: the '
               "paper lists 2 classes and 4,225 examples, exactly the yes+no "
               'rows.')),
    ExtraDataset(
        name='political_audience',
        files={'all': _POLITICAL_FILE},
        text_columns=('text',), label_column='audience', encoding='latin-1',
        source=_crowdflower('political-social-media-posts'),
        notes='Not verified here (file absent); 5,000 rows, 2 classes.'),
    ExtraDataset(
        name='political_bias',
        files={'all': _POLITICAL_FILE},
        text_columns=('text',), label_column='bias', encoding='latin-1',
        source=_crowdflower('political-social-media-posts'),
        notes='Not verified here (file absent); 5,000 rows, 2 classes.'),
    ExtraDataset(
        name='political_message',
        files={'all': _POLITICAL_FILE},
        text_columns=('text',), label_column='message', encoding='latin-1',
        source=_crowdflower('political-social-media-posts'),
        notes='Not verified here (file absent); 5,000 rows, 9 classes.'),
    ExtraDataset(
        name='primary_emotions',
        files={'all': 'primary_emotions/primary-plutchik-wheel-DFE.csv'},
        text_columns=('sentence',), label_column='emotion',
        source=_crowdflower('primary-emotions-of-statements')),
    ExtraDataset(
        name='progressive_opinion',
        files={'all': _PROGRESSIVE_FILE},
        text_columns=('tweet',), label_column=_PROGRESSIVE_Q2,
        encoding='latin-1', label_pattern=r'([123])\.',
        label_map={'1': 'opinion_about_target', '2': 'opinion_about_other',
                   '3': 'no_opinion'},
        source=_crowdflower('progressive-issues-sentiment-analysis')),
    ExtraDataset(
        name='progressive_stance',
        files={'all': _PROGRESSIVE_FILE},
        text_columns=('tweet',), label_column=_PROGRESSIVE_Q1,
        encoding='latin-1',
        label_pattern='(AGAINST|FOR|NEUTRAL|NONE OF THE ABOVE):',
        label_map={'AGAINST': 'against', 'FOR': 'for', 'NEUTRAL': 'neutral',
                   'NONE OF THE ABOVE': 'none'},
        source=_crowdflower('progressive-issues-sentiment-analysis')),
    ExtraDataset(
        name='us_economic_performance',
        files={'all': 'us_economic_performance/us-economic-newspaper.csv'},
        text_columns=('text',), label_column='positivity',
        label_map={'': 'not_relevant',
                   **{str(i): 'relevant' for i in range(1, 10)}},
        source=_crowdflower('us-economic-performance-based-on-news-articles'),
        notes=('The paper lists 2 classes; the only copy found lacks the '
               'relevance column, so relevance is read off positivity (empty '
               'exactly when an article was judged not relevant).')),
    ExtraDataset(
        name='customer_complaints',
        files={'all': 'customer_complaints/Consumer_Complaints.csv'},
        text_columns=('Consumer complaint narrative',), label_column='Issue',
        source=('CFPB Consumer Complaint Database, https://www.consumerfinance'
                '.gov/data-research/consumer-complaints/ (CSV export)'),
        notes=('Not verified here (file absent). Label assumed to be Issue '
               '(the paper lists 157 classes); rows without a narrative are '
               'dropped.')),
    ExtraDataset(
        name='news_aggregator',
        files={'all': 'news_aggregator/newsCorpora.csv'},
        text_columns=('title',), label_column='category', delimiter='\t',
        quoting=csv.QUOTE_NONE,
        column_names=('id', 'title', 'url', 'publisher', 'category', 'story',
                      'hostname', 'timestamp'),
        label_map={'b': 'business', 't': 'science_and_technology',
                   'e': 'entertainment', 'm': 'health'},
        source=('UCI News Aggregator, https://archive.ics.uci.edu/dataset/359/'
                'news+aggregator (newsCorpora.csv, tab-separated, no header)'),
        notes='Not verified here (file absent); ~422k headlines, 4 classes.'),
    ExtraDataset(
        name='sms_spam',
        files={'all': 'sms_spam/SMSSpamCollection'},
        text_columns=('text',), label_column='label', delimiter='\t',
        quoting=csv.QUOTE_NONE, column_names=('label', 'text'),
        encoding_errors='replace',
        source=('UCI SMS Spam Collection, https://archive.ics.uci.edu/dataset/'
                '228/sms+spam+collection (SMSSpamCollection, tab-separated)'),
        notes='Not verified here (file absent); 5,574 messages, ham/spam.'),
)

EXTRA_DATASETS: Mapping[str, ExtraDataset] = types.MappingProxyType(
    {d.name: d for d in _DATASETS})

# Other spellings of the paper's names ('crowdflower_disasters', ...).
_ALIASES = {
    **{f'crowdflower_{name}': name for name in EXTRA_DATASETS},
    'airline': 'crowdflower_airline',
    'newsgroups': '20_newsgroups',
    'customer_complaint_database': 'customer_complaints',
    'news_aggregator_dataset': 'news_aggregator',
    'sms_spam_collection': 'sms_spam',
}


def get_extra_dataset(name: str) -> ExtraDataset:
  """Looks an entry up by name; case, spaces and '-' are ignored."""
  key = re.sub(r'[\s\-]+', '_', name.strip().lower())
  key = _ALIASES.get(key, key)
  if key not in EXTRA_DATASETS:
    raise ValueError(f'Unknown extra dataset {name!r}; valid names: '
                     f'{", ".join(EXTRA_DATASETS)}.')
  return EXTRA_DATASETS[key]
