r"""Predicts with a trained artifact on a file of new texts.

  python -m experiments.predict --artifact runs/mrpc/artifact \
      --input new.csv --output predictions.csv [--text_columns a,b]

--input: CSV, TSV or JSON lines (by extension, or --format). The text columns
are those the artifact was trained on (GLUE: the TFDS names, e.g. sentence1,
sentence2, or the GLUE TSV headers; task=csv: its text_columns); --text_columns
maps the input's own columns to them, in order. --output (CSV, TSV or JSON
lines, by extension) holds every input row and column, then `prediction` (the
label) and one `probability_<label>` column per class, or `score` for a
regression task. Batches of --batch_size (default: the run's evaluation batch
size), a progress bar on stderr.
"""

from __future__ import annotations

import collections
import sys

from absl import app
from absl import flags
from absl import logging
import numpy as np
import pandas as pd
import scipy.special

from adapter_bert import artifacts
from adapter_bert import atomic
from adapter_bert import backbones
from adapter_bert import errors
from adapter_bert import inference
from adapter_bert.data import extra
from adapter_bert.data import text_columns as text_columns_lib

FLAGS = flags.FLAGS


def define_flags() -> None:
  """Defined by `main` only: importing the module claims no flag names."""
  flags.DEFINE_string('artifact', None, 'An exported artifact directory '
                      '(<workdir>/artifact).')
  flags.DEFINE_string('input', None, 'CSV, TSV or JSON lines file of texts.')
  flags.DEFINE_string('output', None, 'Where to write the predictions (CSV, '
                      'TSV or JSON lines, by extension).')
  flags.DEFINE_list('text_columns', None, "The input's text column(s), in the "
                    "order of the artifact's; default: the artifact's names.")
  flags.DEFINE_enum('format', 'auto', list(extra.FORMATS), 'Input format; '
                    'auto: by extension.')
  flags.DEFINE_string('delimiter', ',', 'Delimiter of a csv-format input.')
  flags.DEFINE_string('encoding', 'utf-8', 'Encoding of the input.')
  flags.DEFINE_integer('batch_size', 0, "Rows per batch; 0: the run's "
                       'eval_batch_size.')
  flags.mark_flags_as_required(['artifact', 'input', 'output'])


def choose_columns(frame: pd.DataFrame, path: str, trained, given):
  """The input columns to read, checked against what the artifact takes."""
  width = len(trained[0])
  if given:
    if len(given) != width:
      raise errors.UserError(
          f'--text_columns gives {len(given)} column(s); the artifact was '
          f'trained on {width} ({", ".join(trained[0])}).')
    candidates = [tuple(given)]
  else:
    candidates = trained
  for columns in candidates:
    if all(c in frame.columns for c in columns):
      return columns
  wanted = ' or '.join('(' + ', '.join(c) + ')' for c in candidates)
  lacking = [c for c in candidates[0] if c not in frame.columns]
  raise errors.UserError(
      f'{path}: no column(s) {lacking}; the artifact reads text column(s) '
      f'{wanted}; the file has {list(frame.columns)}. Pass --text_columns to '
      'name yours.')


def prediction_frame(frame: pd.DataFrame, outputs: np.ndarray,
                     label_names) -> pd.DataFrame:
  """The input rows plus the prediction columns."""
  out = frame.copy()
  if label_names is None:
    added = {'score': outputs[:, 0].astype(np.float64)}
  else:
    probabilities = scipy.special.softmax(outputs.astype(np.float64), axis=-1)
    added = {'prediction': [label_names[i] for i in outputs.argmax(-1)]}
    for i, name in enumerate(label_names):
      added[f'probability_{name}'] = probabilities[:, i]
  clash = [c for c in added if c in out.columns]
  if clash:
    raise errors.UserError(f'The input already has column(s) {clash}, which '
                           'the output adds; rename them.')
  for key, value in added.items():
    out[key] = value
  return out


def write_frame(frame: pd.DataFrame, path: str) -> None:
  kind, delimiter = extra.file_format(path)
  with atomic.atomic_open(path, 'w', encoding='utf-8', newline='') as f:
    if kind == 'jsonl':
      frame.to_json(f, orient='records', lines=True, force_ascii=False)
    else:
      frame.to_csv(f, sep=delimiter, index=False)


def predict_file(artifact: str, input_path: str, output_path: str, *,
                 text_columns=None, fmt: str = 'auto', delimiter: str = ',',
                 encoding: str = 'utf-8', batch_size: int = 0,
                 progress: bool = True) -> pd.DataFrame:
  """Reads the input, predicts every row, writes and returns the output."""
  loaded = artifacts.load(artifact)
  config = loaded.meta['config']
  trained = text_columns_lib.text_columns(config)
  frame, _ = extra.read_frame(input_path, fmt=fmt, delimiter=delimiter,
                              encoding=encoding)
  columns = choose_columns(frame, input_path, trained, text_columns)
  tokenizer = backbones.load_tokenizer(loaded.backbone)
  arrays = inference.encode(
      tokenizer, frame[columns[0]].tolist(),
      frame[columns[1]].tolist() if len(columns) > 1 else None,
      config['max_length'])
  outputs = inference.classifier_outputs(
      loaded, arrays, batch_size or config['eval_batch_size'], progress)
  out = prediction_frame(frame, outputs, loaded.label_names)
  write_frame(out, output_path)
  return out


def main(argv):
  del argv
  if not FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)  # Loading logs each step at INFO.
  try:
    out = predict_file(
        FLAGS.artifact, FLAGS.input, FLAGS.output,
        text_columns=FLAGS.text_columns, fmt=FLAGS.format,
        delimiter=FLAGS.delimiter, encoding=FLAGS.encoding,
        batch_size=FLAGS.batch_size)
  except (errors.UserError, FileNotFoundError) as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  if 'prediction' in out.columns:
    counts = collections.Counter(out['prediction'])
    summary = ', '.join(f'{k}: {v}' for k, v in sorted(counts.items()))
  else:
    summary = f"mean score {out['score'].mean():.4f}"
  print(f'{len(out)} rows -> {FLAGS.output} ({summary})', file=sys.stderr)


if __name__ == '__main__':
  define_flags()
  app.run(main)
