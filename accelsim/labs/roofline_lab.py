"""Lab 1: roofline and arithmetic intensity on a V100, a Xavier and a Raspberry Pi 3.

Definitions (reference/roofline.md): FLOPs = 2 x MACs; an operator's bytes = its whole input + all its
weights + its whole output; intensity = FLOPs / bytes; attainable = min(peak, bandwidth x intensity);
ridge = peak / bandwidth. Every answer is computed here from accelsim.roofline and the shipped presets
(configs/hw), each device with its own element size (V100 fp16: 2 B, Xavier int8: 1 B, Pi fp32: 4 B)
unless a question says fp32.
"""

from __future__ import annotations

from functools import cache

from accelsim.labs.grading import Lab, Question
from accelsim.roofline.hardware import Hardware, load_hardware
from accelsim.roofline.model import layer_point, model_roofline, operator_cost
from workloads import zoo
from workloads.layer import Layer, conv, gemm

DEVICES = ("v100", "xavier", "rpi3")


@cache
def hw(name: str) -> Hardware:
    return load_hardware(name)


def matvec() -> Layer:
    return gemm("matvec", m=1, n=1000, k=1000)


def conv3x3() -> Layer:
    return conv("conv3x3", C=256, K=256, H=56, R=3, pad=1)


def bottleneck_middle() -> Layer:
    return conv("b", C=64, K=64, H=56, R=3, pad=1)


def _most_memory_bound(_) -> str:
    mobilenet = zoo.get("mobilenet_v1")
    counts = {d: model_roofline(mobilenet, hw(d)).count("memory") for d in DEVICES}
    return max(DEVICES, key=lambda d: (counts[d], d))


LAB = Lab(
    name="roofline",
    title="Roofline and arithmetic intensity",
    notebook="lab1_roofline.ipynb",
    minutes=45,
    prerequisites="notebook 07 (roofline, fusion, Winograd); FLOPs, bytes, GB/s",
    questions=(
        Question("q1", "ridge point of the Raspberry Pi 3", "number",
                 "the ridge is peak FLOP/s divided by memory bandwidth in B/s",
                 answer=lambda a: hw("rpi3").ridge, unit="FLOP/B"),
        Question("q2", "ridge point of the V100 (tensor cores)", "number",
                 "the ridge is peak FLOP/s divided by memory bandwidth in B/s",
                 answer=lambda a: hw("v100").ridge, unit="FLOP/B"),
        Question("q3", "ridge point of the Xavier", "number",
                 "the ridge is peak FLOP/s divided by memory bandwidth in B/s",
                 answer=lambda a: hw("xavier").ridge, unit="FLOP/B"),
        Question("q4", "intensity of y = A.x (A 1000 x 1000, fp32)", "number",
                 "FLOPs = 2 x MACs; bytes = 4 x (the matrix + x + y); each matrix element is used once",
                 answer=lambda a: operator_cost(matvec(), 4).intensity, unit="FLOP/B"),
        Question("q5", "intensity of the 3x3 conv, 56x56, 256 -> 256 channels, padding 1, fp32", "number",
                 "FLOPs = 2 x 56 x 56 x 256 x 256 x 9; bytes = 4 x (input + weights + output)",
                 answer=lambda a: operator_cost(conv3x3(), 4).intensity, unit="FLOP/B"),
        Question("q6", "attainable performance of y = A.x on the Xavier (int8: 1 B per element)", "number",
                 "attainable = min(peak, bandwidth x intensity), the intensity with 1-byte elements",
                 answer=lambda a: layer_point(matvec(), hw("xavier")).attainable_flops / 1e9, unit="GFLOP/s"),
        Question("q7", "the bottleneck's middle layer (3x3, 64 -> 64 on 56x56) on the Raspberry Pi 3 is ...-bound",
                 "choice", "compare the layer's intensity with the machine's ridge point",
                 answer=lambda a: layer_point(bottleneck_middle(), hw("rpi3")).bound, choices=("compute", "memory")),
        Question("q8", "the same layer on the V100 with fp32 bytes (4 B per element) is ...-bound", "choice",
                 "compare the layer's intensity (4-byte elements) with the V100's ridge point",
                 answer=lambda a: layer_point(bottleneck_middle(), hw("v100").with_element_bytes(4)).bound,
                 choices=("compute", "memory")),
        Question("q9", "MobileNet v1 layers (batch 1) that are memory-bound on the Raspberry Pi 3", "integer",
                 "place every layer of zoo 'mobilenet_v1' on the Pi's roofline; count those left of the ridge",
                 answer=lambda a: model_roofline(zoo.get("mobilenet_v1"), hw("rpi3")).count("memory"), unit="layers"),
        Question("q10", "the device on which most MobileNet v1 layers are memory-bound", "choice",
                 "a higher ridge puts more layers left of it; each device uses its own element size",
                 answer=_most_memory_bound, choices=DEVICES),
        Question("q11", "whole-network intensity of VGG-16 (batch 1, fp32, MAC layers only)", "number",
                 "sum FLOPs and sum bytes over the layers, then divide (not the mean of the layers' intensities)",
                 answer=lambda a: model_roofline(zoo.get("vgg16"), hw("rpi3")).intensity, unit="FLOP/B"),
    ),
)
