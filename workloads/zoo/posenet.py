"""PoseNet (MobileNet v1 backbone, multiplier 1.0) at 257x257, output stride 32, batch 1 (MAC layers only).

Source: the PoseNet heads of Papandreou et al. ("Towards Accurate Multi-person Pose Estimation in
the Wild", CVPR 2017: heatmaps + short-range offsets; "PersonLab", ECCV 2018: mid-range displacements
for multi-person decoding), as shipped for mobile in TensorFlow Lite's pose-estimation example,
posenet_mobilenet_v1_100_257x257_multi_kpt_stripped.tflite, and in TensorFlow.js
(tfjs-models/posenet, architecture MobileNetV1): the MobileNet v1 body (stem + 13 separable layers,
no pooling and no classifier), then four 1x1 convs on its 9x9x1024 output: 17 keypoint heatmaps,
34 short-range offsets (x, y per keypoint), 32 forward and 32 backward displacements (x, y for each
of the 16 skeleton edges). 257 = 32 x 8 + 1: TF "SAME" padding of a 3x3/2 conv on an odd input
pads 1 on each side, so the map goes 257 -> 129 -> 65 -> 33 -> 17 -> 9.
The TF.js default (multiplier 0.75, output stride 16 with dilated last layers) is not this model.

The graph: the body is a chain; the four heads are branches that all read its last layer
(``conv14_pw``, 9x9x1024), each an output of the network.
"""

from workloads.graph import GraphBuilder
from workloads.layer import Workload, conv
from workloads.zoo.mobilenet import mobilenet_v1_body

INPUT, MULTIPLIER = 257, 1.0
KEYPOINTS, EDGES = 17, 16


def posenet() -> Workload:
    layers, c, h = mobilenet_v1_body(H=INPUT, width=MULTIPLIER)
    g = GraphBuilder()
    for layer in layers:
        g.add(layer)
    body = g.last
    for head in (conv("heatmap", C=c, K=KEYPOINTS, H=h, R=1),
                 conv("offset", C=c, K=2 * KEYPOINTS, H=h, R=1),
                 conv("displacement_fwd", C=c, K=2 * EDGES, H=h, R=1),
                 conv("displacement_bwd", C=c, K=2 * EDGES, H=h, R=1)):
        g.add(head, body)
    return g.workload("posenet")


NETWORKS = {"posenet": posenet}
