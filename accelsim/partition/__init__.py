"""CoDL-style CPU/GPU co-execution planning for mobile SoCs.

Modules, one job each:

- :mod:`~accelsim.partition.soc` -- SoC specs (CPU, GPU, memory, data-sharing terms) from YAML;
- :mod:`~accelsim.partition.shape` -- the operator geometry the predictor reads;
- :mod:`~accelsim.partition.priors` -- spec-sheet roofline priors for the per-basic-unit time;
- :mod:`~accelsim.partition.predictor` -- CoDL's kernel-latency form, least-squares fit, +-10% accuracy,
  and the FLOPs-only predictor beside it;
- :mod:`~accelsim.partition.impl` -- which kernel implementation a processor runs for an operator;
- :mod:`~accelsim.partition.kernel_class` -- the kernel classes a calibration fits one efficiency for;
- :mod:`~accelsim.partition.latencies` -- measured single-processor model latencies (the calibration's CSV);
- :mod:`~accelsim.partition.soc_fit` -- per-class efficiencies fitted to those latencies (``calibrate``);
- :mod:`~accelsim.partition.validation` -- leave-one-model/SoC-out predictions against CoDL's figures;
- :mod:`~accelsim.partition.split` -- OC and H partitions (halo via :mod:`accelsim.halo`), chain bands;
- :mod:`~accelsim.partition.execute` -- runs the parts with NumPy (the proof a split is exact);
- :mod:`~accelsim.partition.segment` -- latency of one operator or one chain under a split, data sharing
  (transform, map, pre-sync) included;
- :mod:`~accelsim.partition.planner` -- CoDL's search and the baselines (CPU-only, GPU-only, muLayer-like);
- :mod:`~accelsim.partition.timeline` -- a plan laid out in time (for the Gantt chart);
- :mod:`~accelsim.partition.report` -- summary metrics and the JSON document;
- :mod:`~accelsim.partition.local_kernels` / :mod:`~accelsim.partition.profile` -- real convolutions timed
  on this machine's CPU; :mod:`~accelsim.partition.measurements` -- their CSV;
  :mod:`~accelsim.partition.calibrate` -- ``fit(measurements.csv)`` and held-out +-10% accuracy.
"""
