"""Sparsity layered on the dense analysis: density models, formats, gating/skipping (issue 16).

``density`` / ``formats`` / ``spec`` are spec-level (what the user writes); ``model`` computes the
sparse actions from the dense action table; ``masks`` counts actual-data MACs; ``layer`` runs one
fixed-shape layer's sparse view and prices it with the one energy function.
"""
