"""Published scale-out figures (reference/training.md).

FireCaffe (Iandola, Ashraf, Moskewicz, Keutzer, CVPR 2016), Titan supercomputer (Cray Gemini, NVIDIA
K20X): training is 47x faster for GoogLeNet and 39x for Network-in-Network on 128 GPUs than on one,
with reduction trees and a global batch of 1024.
"""

FIRECAFFE_WORKERS = 128
FIRECAFFE_BATCH = 1024
FIRECAFFE_SPEEDUP = {"googlenet": 47.0, "nin": 39.0}
