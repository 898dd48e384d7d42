"""What every plot of the reports shares: a log-x score panel, an atomic save."""

from __future__ import annotations

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
