"""SCALE-Sim 3.0's input stationary mapping (see dataflows/scalesim_fold.py): the layer's im2col GEMM folded
as SCALE-Sim folds it; rows <- the window, columns <- output pixels, streamed: filters."""

from dataflows.scalesim_fold import declaration

DATAFLOW = declaration("is")
