"""The cost model: mapping -> exact action counts (counts.py), -> energy and cycles (model.py)."""
