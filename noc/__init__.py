"""NoC models: a registry of named networks (bus, mesh, systolic, Eyeriss v1, Eyeriss v2)."""
