"""What every plot of the reports shares: a log-x score panel, an atomic save."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from adapter_bert import atomic


def log_x_panel(ax, xlabel: str, ylabel: str, title: str, *,
                legend: str | None = 'small',
                fontsize: str | None = None) -> None:
  """Log x axis, labels, a light grid and (unless None) a legend."""
  ax.set_xscale('log')
  ax.set_xlabel(xlabel, fontsize=fontsize)
  ax.set_ylabel(ylabel, fontsize=fontsize)
  ax.set_title(title, fontsize=fontsize and 'medium')
  ax.grid(True, alpha=0.3)
  if legend:
    ax.legend(fontsize=legend)


def save_figure(fig, path: str, dpi: int = 100, **layout) -> str:
  """tight_layout(**layout), then an atomic save; closes the figure."""
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig.tight_layout(**layout)
  with atomic.atomic_path(path) as tmp:
    fig.savefig(tmp, dpi=dpi)
  plt.close(fig)
  return path


def span_heatmap(result: Mapping[str, Any], path: str) -> str:
  """Ablation heatmap: first ablated layer (rows) x last (columns).

  `result` as experiments.ablate writes it (num_layers, task, baseline score,
  spans with first, last and delta in points); `title` overrides the title.
  """
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  n = result['num_layers']
  grid = np.full((n, n), np.nan)
  for r in result['spans']:
    grid[r['first'], r['last']] = r['delta']
  # Symmetric colour scale (red = worse), at least ±0.5 points.
  limit = max(0.5, np.nanmax(np.abs(grid)) if np.isfinite(grid).any() else 0)
  fig, ax = plt.subplots(figsize=(max(3.5, 1.2 + 0.55 * n),
                                  max(3.0, 1.0 + 0.5 * n)))
  image = ax.imshow(grid, cmap='RdBu', vmin=-limit, vmax=limit)
  if n <= 12:
    for (i, j), value in np.ndenumerate(grid):
      if np.isfinite(value):
        ax.text(j, i, f'{value:.1f}', ha='center', va='center', fontsize=7)
  ax.set_xticks(range(n))
  ax.set_yticks(range(n))
  ax.set_xlabel('Last ablated layer')
  ax.set_ylabel('First ablated layer')
  ax.set_title(result.get('title') or (
      f"{result['task']}: dev score change (points)\nbaseline "
      f"{100 * result['baseline']['score']:.1f}"), fontsize=9)
  fig.colorbar(image, ax=ax, shrink=0.8)
  return save_figure(fig, path, dpi=120)
