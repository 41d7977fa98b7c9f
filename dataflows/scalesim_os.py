"""SCALE-Sim 3.0's output stationary mapping (see dataflows/scalesim_fold.py): the layer's im2col GEMM folded
as SCALE-Sim folds it; rows <- output pixels, columns <- filters, streamed: the window."""

from dataflows.scalesim_fold import declaration

DATAFLOW = declaration("os")
