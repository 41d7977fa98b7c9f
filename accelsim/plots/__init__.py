"""Plots (matplotlib, Agg backend): one module per figure family; each takes result objects."""
