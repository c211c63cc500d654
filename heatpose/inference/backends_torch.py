"""The PyTorch backend's inference network: BatchNorm folded into the convolutions before it
(``conv -> bn`` becomes one conv with rescaled weights and a bias), channels-last on CPU.

Measured on the 2-core CPU (benchmarks/README.md): 1.5-1.6x the eager NCHW forward of
ResNet-50 and HRNet-W32 at batch 16, outputs equal to float rounding. The folded copy is built
on first use and rebuilt whenever a weight changes (training, load_state_dict, ``.to()``), so
the model itself keeps MMPose's modules and state_dict.
"""
from __future__ import annotations

import copy
from typing import Any, Tuple

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval
from torch.optim.optimizer import register_optimizer_step_post_hook

_CONVS = (nn.Conv2d, nn.ConvTranspose2d)


def _fused(conv: nn.Module, bn: nn.BatchNorm2d) -> nn.Module:
    """The folded conv, computed in float64 and stored in the conv's dtype."""
    dtype = conv.weight.dtype
    fused = fuse_conv_bn_eval(copy.deepcopy(conv).double(), copy.deepcopy(bn).double(),
                              transpose=isinstance(conv, nn.ConvTranspose2d))
    return fused.to(dtype)


def fuse_conv_bn(module: nn.Module) -> nn.Module:
    """Fold every eval-mode BatchNorm2d into the convolution that feeds it, in place.

    Pairs found: consecutive ``(conv, bn)`` entries of an ``nn.Sequential`` and sibling
    attributes ``convX`` / ``bnX`` (the ResNet / HRNet naming). The BN becomes Identity."""
    for mod in list(module.modules()):
        children = dict(mod.named_children())
        for name, child in children.items():
            conv_name = "conv" + name[2:]
            if name.startswith("bn") and isinstance(child, nn.BatchNorm2d) \
                    and isinstance(children.get(conv_name), _CONVS):
                setattr(mod, conv_name, _fused(children[conv_name], child))
                setattr(mod, name, nn.Identity())
        if isinstance(mod, nn.Sequential):
            for i in range(len(mod) - 1):
                if isinstance(mod[i], _CONVS) and isinstance(mod[i + 1], nn.BatchNorm2d):
                    mod[i] = _fused(mod[i], mod[i + 1])
                    mod[i + 1] = nn.Identity()
    return module


_optimizer_steps = 0          # optimizer.step() calls in this process (any optimizer)


def _count_step(optimizer: Any, args: Any, kwargs: Any) -> None:
    global _optimizer_steps
    _optimizer_steps += 1


# torch's fused optimizer kernels (the CPU trainer's Adam/AdamW/SGD) update the weights without
# bumping their version counters: every optimizer step (O(1) here) retires the cached keys
register_optimizer_step_post_hook(_count_step)


def weights_key(model: nn.Module) -> Tuple[Any, ...]:
    """Changes whenever a parameter or buffer is replaced, added, moved or modified in place
    (torch's version counters: ``load_state_dict``, in-place ops under ``no_grad``) and after
    any optimizer step in the process (fused kernels skip the counters). Writes through
    ``tensor.data`` bypass the counters and are not seen."""
    return (_optimizer_steps,) + tuple((name, t.data_ptr(), t._version, t.device.type, t.dtype)
                                       for name, t in model.state_dict(keep_vars=True).items())


def inference_network(model: Any) -> Tuple[nn.Module, bool]:
    """``model``'s backbone + head, BN-folded, eval mode, and whether it runs channels-last
    (on CPU). Cached on the model until its weights change."""
    key = weights_key(model)
    cache = model.__dict__.setdefault("_inference_cache", {})
    if cache.get("key") != key:
        with torch.no_grad():
            net = fuse_conv_bn(copy.deepcopy(nn.Sequential(model.backbone, model.head)).eval())
        channels_last = model.pixel_mean.device.type == "cpu"
        if channels_last:
            net = net.to(memory_format=torch.channels_last)
        cache.clear()
        cache.update(key=key, net=net, channels_last=channels_last)
    return cache["net"], cache["channels_last"]
