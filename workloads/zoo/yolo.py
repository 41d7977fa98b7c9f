"""YOLOv2 at 416x416 (Darknet-19 backbone, PASCAL VOC head), batch 1 (MAC layers only).

Source: Redmon & Farhadi, "YOLO9000: Better, Faster, Stronger", CVPR 2017, section 2 (Darknet-19,
Table 6; the detector removes the last conv, adds three 3x3 convs of 1024 filters and a final 1x1
conv with 5 x (5 + 20) = 125 outputs; a passthrough layer turns the 26x26x512 map into 13x13x2048
and concatenates it with the 13x13x1024 features) and the matching Darknet config, yolo-voc.cfg of
the paper's release. Darknet's own table (pjreddie.com/darknet/yolov2) gives YOLOv2 416x416 on VOC
34.90 Bn FLOPs, Darknet counting 2 FLOPs per MAC: 17.45 G MACs.

Layer names are Darknet's layer indices (conv0 ... conv29); max-pool (2x2/2), route and reorg layers
do no MACs and are not listed. The later yolov2-voc.cfg adds a 1x1 conv of 64 filters before the
reorg (14.68 G MACs by the same count); this is the paper's version without it.
"""

from workloads.graph import GraphBuilder
from workloads.layer import Workload, conv
from workloads.zoo._blocks import pool

# Darknet-19 convolutions as (darknet layer index, filters, size); a max-pool follows 0, 2, 6, 10, 16
_BACKBONE = ((0, 32, 3), (2, 64, 3), (4, 128, 3), (5, 64, 1), (6, 128, 3), (8, 256, 3), (9, 128, 1),
             (10, 256, 3), (12, 512, 3), (13, 256, 1), (14, 512, 3), (15, 256, 1), (16, 512, 3),
             (18, 1024, 3), (19, 512, 1), (20, 1024, 3), (21, 512, 1), (22, 1024, 3))
_POOL_AFTER = {0, 2, 6, 10, 16}
_PASSTHROUGH = 16  # route -9 from layer 25 takes the 26x26x512 output of conv16


def yolov2() -> Workload:
    g = GraphBuilder()
    c, h = 3, 416
    for index, k, r in _BACKBONE:
        g.add(conv(f"conv{index}", C=c, K=k, H=h, R=r, pad=r // 2))
        c = k
        if index == _PASSTHROUGH:
            passthrough_c = k
        if index in _POOL_AFTER:
            g.add(pool(f"pool{index + 1}", C=c, H=h, R=2, stride=2))   # darknet layer index + 1
            h //= 2
    g.add(conv("conv23", C=c, K=1024, H=h, R=3, pad=1))
    g.add(conv("conv24", C=1024, K=1024, H=h, R=3, pad=1))
    # 25 route -9, 26 reorg /2 (26x26x512 -> 13x13x2048), 27 route -1 -3: concat 2048 + 1024 channels;
    # in the graph conv28 reads conv16 (reorganised) and conv24, in that order
    g.add(conv("conv28", C=4 * passthrough_c + 1024, K=1024, H=h, R=3, pad=1), f"conv{_PASSTHROUGH}", "conv24")
    g.add(conv("conv29", C=1024, K=5 * (5 + 20), H=h, R=1))
    return g.workload("yolov2")


NETWORKS = {"yolov2": yolov2}
