"""SCALE-Sim 3.0's weight stationary mapping (see dataflows/scalesim_fold.py): the layer's im2col GEMM folded
as SCALE-Sim folds it; rows <- the window, columns <- filters, streamed: output pixels."""

from dataflows.scalesim_fold import declaration

DATAFLOW = declaration("ws")
