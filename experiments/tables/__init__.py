"""Paper-style tables (and their plots) from runs' results, one module a table.

common: labels, orders and cell formats every table shares; glue (paper
Table 1), extra (Table 2), squad, runs (wall time, every run), init_scale
(Fig. 6, right), params_plot (Figs. 3-4); report.py and the studies compose
them.
"""
