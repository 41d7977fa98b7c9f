"""The mapper: search proposes mappings (space.py), the cost model scores them (score.py),
a reducer keeps the best (search.py). Deterministic for a given seed."""
