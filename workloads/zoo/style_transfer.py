"""Fast style transfer (Johnson et al.'s image transformation network) at 256x256, batch 1.

Source: Johnson, Alahi, Fei-Fei, "Perceptual Losses for Real-Time Style Transfer and
Super-Resolution", ECCV 2016, and its supplementary architecture table, in the layer form of the
reference implementation pytorch/examples fast_neural_style/neural_style/transformer_net.py:
  conv 9x9/1 3 -> 32, conv 3x3/2 32 -> 64, conv 3x3/2 64 -> 128        (256 -> 128 -> 64)
  5 residual blocks of two 3x3/1 convs 128 -> 128 on 64x64
  2 upsampling convs: nearest x2 upsample then conv 3x3/1 (128 -> 64 on 128x128, 64 -> 32 on 256x256)
  conv 9x9/1 32 -> 3 on 256x256
The paper's two fractionally-strided (stride 1/2, "transposed") convs are modelled as stride-1 convs
on the upsampled map, as the reference implementation computes them; a true transposed conv would
skip the inserted zeros and cost a quarter of these MACs. Padding is k // 2 on every conv (reflection
padding in the reference, zero padding here: the MAC count is the same); the paper's variant with
unpadded residual convs and a 40-pixel reflection border is not modelled.
Input 256x256 (the paper's training resolution). Instance norm, ReLU, the residual adds and the
upsampling do no MACs and are not listed.

The graph adds the residual adds ``res<b>_add`` (the block's second conv + the block's input) and
the nearest x2 upsamplings ``deconv1_up``, ``deconv2_up`` that the upsampling convs read.
"""

from workloads.graph import GraphBuilder
from workloads.layer import Workload, conv
from workloads.zoo._blocks import add, upsample

INPUT = 256


def fast_style_transfer() -> Workload:
    g = GraphBuilder()
    c1 = conv("conv1", C=3, K=32, H=INPUT, R=9, pad=4)
    c2 = conv("conv2", C=32, K=64, H=c1.P, R=3, stride=2, pad=1)
    c3 = conv("conv3", C=64, K=128, H=c2.P, R=3, stride=2, pad=1)
    for layer in (c1, c2, c3):
        g.add(layer)
    for b in range(1, 6):
        x = g.last
        g.add(conv(f"res{b}_conv1", C=128, K=128, H=c3.P, R=3, pad=1))
        g.add(conv(f"res{b}_conv2", C=128, K=128, H=c3.P, R=3, pad=1))
        g.add(add(f"res{b}_add", C=128, H=c3.P), g.last, x)
    g.add(upsample("deconv1_up", C=128, H=c3.P))
    up1 = conv("deconv1", C=128, K=64, H=2 * c3.P, R=3, pad=1)   # upsample x2, then conv
    g.add(up1)
    g.add(upsample("deconv2_up", C=64, H=up1.P))
    up2 = conv("deconv2", C=64, K=32, H=2 * up1.P, R=3, pad=1)
    g.add(up2)
    g.add(conv("deconv3", C=32, K=3, H=up2.P, R=9, pad=4))
    return g.workload("fast_style_transfer")


NETWORKS = {"fast_style_transfer": fast_style_transfer}
