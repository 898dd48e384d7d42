"""Data for adapter-bert: GLUE and extra classification sets, tokens, batches.

Sources produce `Examples` (texts, labels, row ids):
  glue.get_task(name) -> GlueTask                    task table (columns,
                                                     labels, metrics, files)
  load_glue_split(task, split, data_dir=None)        classic GLUE TSV layout;
                                                     default: data/glue
  load_tfds_split(task, split, data_dir=None)        TFDS glue/<task>
  get_extra_dataset(name) -> ExtraDataset            paper's Table 2 sets
  load_extra_splits(name_or_spec, data_dir=None, seed=0)
      -> {'train', 'validation', 'test'}: Examples   stratified 80/10/10

Then, for any source:
  tokenize_examples(tokenizer, examples, max_length, cache_dir=None)
      -> {'input_ids', 'token_type_ids', 'lengths'}  int32, cached on disk
  train_batches(arrays, labels, batch_size, seed, start_step=0, buckets,
      group_by_length, packing, num_groups)
      endless, resumable at any step
  eval_batches(arrays, labels, batch_size, buckets, packing, num_groups)
      each example once, padded rows have mask 0
  packing.pack_batch(...)                            examples packed into rows
  host_slice(batch, process_index, process_count), shard_batch(batch,
      sharding), data_sharding()                     global jax.Arrays
  write_glue_submission(task, split, index, predictions, output_dir)

Metrics live in `adapter_bert.metrics.compute_metrics`.
"""

from adapter_bert.data import glue
from adapter_bert.data.batching import data_sharding
from adapter_bert.data.batching import DEFAULT_BUCKETS
from adapter_bert.data.batching import eval_batches
from adapter_bert.data.batching import host_slice
from adapter_bert.data.batching import shard_batch
from adapter_bert.data.batching import steps_per_epoch
from adapter_bert.data.batching import train_batches
from adapter_bert.data.examples import Examples
from adapter_bert.data.extra import EXTRA_DATASETS
from adapter_bert.data.extra import ExtraDataset
from adapter_bert.data.extra import get_extra_dataset
from adapter_bert.data.extra import load_extra_splits
from adapter_bert.data.glue import get_task
from adapter_bert.data.glue import GlueTask
from adapter_bert.data.glue_tsv import default_glue_dir
from adapter_bert.data.glue_tsv import load_glue_split
from adapter_bert.data.packing import PACKED_KEYS
from adapter_bert.data.submission import write_glue_submission
from adapter_bert.data.tfds_glue import load_tfds_split
from adapter_bert.data.tokenization import tokenize_examples
