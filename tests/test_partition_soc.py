"""SoC specs: the shipped files load, their data-sharing slopes are their memory bandwidth, and a bad
file is one ConfigError line naming the file and the key."""

from __future__ import annotations

import pytest
import yaml

from accelsim.errors import ConfigError
from accelsim.partition.soc import CPU_KERNELS, GPU_KERNELS, load_soc, shipped_socs

SHIPPED = {"sd855": 34.1, "sd865": 44.0, "sd888": 51.2, "kirin990": 34.1}


def test_shipped_socs_load():
    assert sorted(shipped_socs()) == sorted(SHIPPED)
    for name, bw in SHIPPED.items():
        soc = load_soc(name)
        assert soc.bandwidth_gbs == bw
        assert [k.name for k in soc.cpu.kernels] == list(CPU_KERNELS)
        assert [k.name for k in soc.gpu.kernels] == list(GPU_KERNELS)
        assert soc.sharing.presync_ms == 1.0                      # CoDL's pre-sync bound


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_sharing_costs_are_codl_micro_figures(name):
    """reference/codl.md (SD855): transformation ~0.33 ms and mapping ~0.235 ms per million elements,
    ~0 intercept; fp32, so a million elements are 4 MB: 0.0825 and 0.05875 ms per MB."""
    soc = load_soc(name)
    per_million = 4e6
    assert soc.sharing.transform.ms(int(per_million)) == pytest.approx(0.33)
    assert soc.sharing.map.ms(int(per_million)) == pytest.approx(0.235)
    assert soc.sharing.transform.intercept_ms == soc.sharing.map.intercept_ms == 0.0


def test_sd855_gpu_peak_matches_the_published_gflops():
    """Adreno 640: 898.6 FP32 GFLOPS published; 2 compute units x per-unit MAC rate x 2 FLOP/MAC."""
    gpu = load_soc("sd855").gpu
    assert 2 * gpu.compute_units * gpu.macs_per_s_per_core / 1e9 == pytest.approx(898.6, rel=1e-3)


def test_soc_by_path(tmp_path):
    import configs

    text = configs.find("soc/sd855").read_text()
    p = tmp_path / "mine.yaml"
    p.write_text(text.replace("name: Snapdragon 855", "name: my phone"))
    assert load_soc(str(p)).name == "my phone"


def _doc():
    import configs

    return yaml.safe_load(configs.find("soc/sd855").read_text())


def _edit(doc, path, value):
    node = doc
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return doc


_DELETE = object()

BAD = [
    (("cpu", "cors"), 4, "cpu.cors", "unknown key"),
    (("cpu", "cores"), 0, "cpu.cores", "too small"),
    (("cpu", "freq_ghz"), "fast", "cpu.freq_ghz", "expected a number"),
    (("memory", "bandwidth_gbs"), -1.0, "memory.bandwidth_gbs", "must be >"),
    (("gpu", "kernels", "direct"), _DELETE, "gpu.kernels", "missing kernel(s) direct"),
    (("gpu", "kernels", "fft"), {"item": {"oc": 4, "h": 1, "w": 4}}, "gpu.kernels.fft", "unknown kernel"),
    (("cpu", "kernels", "winograd_f6", "item", "h"), 4, "cpu.kernels.winograd_f6.item", "6x6"),
    (("gpu", "kernels", "gemv", "unit"), 128, "gpu.kernels.gemv.unit", "larger than block"),
    (("gpu", "max_work_group_size"), 32, "gpu.max_work_group_size", "smaller than wave_size"),
    (("sharing", "presync_ms"), -1, "sharing.presync_ms", "must be >= 0"),
    (("sharing", "map"), _DELETE, "sharing.map", "missing required key"),
    (("gpu",), _DELETE, "gpu", "missing required key"),                      # a SoC without a GPU entry
    (("cpu", "efficiency", "winograd"), 0.5, "cpu.efficiency.winograd", "unknown kernel-class factor"),
    (("gpu", "efficiency", "k1"), 0, "gpu.efficiency.k1", "must be >"),
    (("gpu", "family"), 7, "gpu.family", "expected"),
    (("gpu", "kernels", "direct", "item", "ic"), 0, "gpu.kernels.direct.item.ic", "too small"),
    (("cpu", "kernels", "gemm", "t_unit_ns"), {"const": -100, "h": 0, "w": 0, "ic": 0, "oc": 0, "red": 0},
     "cpu.kernels.gemm.t_unit_ns",
     "needs at least one positive coefficient (the regressors are positive, so it could never give a positive "
     "time), got {const: -100, h: 0, w: 0, ic: 0, oc: 0, red: 0}"),
    (("gpu", "kernels", "direct", "t_unit_ns"), {"const": 0}, "gpu.kernels.direct.t_unit_ns",
     "needs at least one positive coefficient"),                               # all zero (terms left out: 0)
    (("gpu", "kernels", "gemv", "block"), 4096, "gpu.kernels.gemv.block",
     "value 4096 is larger than max_work_group_size 1024: a GPU block is one work group of work items; "
     "must be <= 1024"),
]


@pytest.mark.parametrize("path,value,key,message", BAD, ids=[b[2] for b in BAD])
def test_bad_soc_file_is_one_line_config_error(tmp_path, path, value, key, message):
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(_edit(_doc(), path, value)))
    with pytest.raises(ConfigError) as e:
        load_soc(str(p))
    text = str(e.value)
    assert "\n" not in text
    assert str(p) in text and key in text and message in text


def test_unknown_soc_name_lists_the_shipped_ones():
    with pytest.raises(ConfigError, match="shipped: .*sd855"):
        load_soc("sd999")


def test_gpu_block_up_to_the_work_group_size_and_mixed_sign_coefficients_load(tmp_path):
    """The limits are inclusive: a block of exactly max_work_group_size (1024) loads; t_unit_ns with a
    negative term and one positive term loads, the terms left out read as 0."""
    doc = _edit(_doc(), ("gpu", "kernels", "gemv", "block"), 1024)
    doc = _edit(doc, ("cpu", "kernels", "gemm", "t_unit_ns"), {"const": -1, "red": 0.5})
    p = tmp_path / "ok.yaml"
    p.write_text(yaml.safe_dump(doc))
    soc = load_soc(str(p))
    assert soc.gpu.kernel("gemv").block == 1024
    assert soc.cpu.kernel("gemm").coef_ns == (-1.0, 0.0, 0.0, 0.0, 0.0, 0.5)
