"""Write what segmentation-models-pytorch 0.4.0's UPerNet computes, for tests/test_hub_models.py.

Runs smp 0.4.0 itself, never installed: give the folder of its unpacked wheel (and of its two pure-Python
import-time dependencies) on the command line, e.g.

    pip download segmentation-models-pytorch==0.4.0 pretrainedmodels==0.7.4 efficientnet-pytorch==0.7.1 \
        --no-deps -d /tmp/smp040   # then unzip the wheel, untar the two sdists
    python tests/data/make_upernet_golden.py OUT.safetensors ENCODER PYRAMID SEG SIZE /tmp/smp040/src \
        /tmp/smp040/pretrainedmodels-0.7.4 /tmp/smp040/efficientnet_pytorch-0.7.1

It builds ``upernet`` on ``tu-ENCODER`` (Swin with img_size=SIZE) with seeded random weights and batch-norm
statistics, runs it in eval mode on a seeded random 2×3×SIZE×SIZE input and saves the state dict (smp
0.4.0's keys), the input (``__input__``) and the logits (``__logits__``).
"""

import sys
import warnings
from pathlib import Path

out, encoder, pyramid, seg, size, *paths = sys.argv[1:]
sys.path[:0] = paths + [str(Path(__file__).resolve().parent.parent)]  # smp 0.4.0 first; tests/ for tiny_timm
warnings.filterwarnings("ignore")

import segmentation_models_pytorch as smp  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

import tiny_timm  # noqa: E402,F401 - the tiny test architectures

assert smp.__version__ == "0.4.0", smp.__version__
torch.set_num_threads(1)
torch.manual_seed(0)
size = int(size)
model = smp.create_model("upernet", encoder_name=f"tu-{encoder}", encoder_weights=None, classes=19, in_channels=3,
                         decoder_pyramid_channels=int(pyramid), decoder_segmentation_channels=int(seg),
                         **({"img_size": size} if "swin" in encoder else {}))
with torch.no_grad():
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.normal_(1, 0.1)
            m.bias.normal_(0, 0.1)
model.eval()
x = torch.randn(2, 3, size, size)
with torch.no_grad():
    logits = model(x)
tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
save_file({**tensors, "__input__": x, "__logits__": logits}, out)
print(f"{out}: {len(tensors)} tensors, logits {tuple(logits.shape)}")
