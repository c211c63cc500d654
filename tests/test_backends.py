"""Backend selection and the cached ONNX Runtime runner of a PyTorch model (its MMPose parity on
the reference models runs in test_export.py)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from heatpose.errors import InputError
from heatpose.inference import backends
from heatpose.inference.backends import as_backend, model_digest, resolve_backend
from heatpose.models.build import load_model


def test_auto_is_onnxruntime_on_cpu_and_torch_elsewhere():
    assert resolve_backend("auto", "cpu") == "onnxruntime"
    assert resolve_backend("auto", torch.device("cuda", 0)) == "torch"
    assert resolve_backend("torch", "cpu") == "torch"
    with pytest.raises(InputError, match="backend='tensorrt'"):
        resolve_backend("tensorrt")


def test_runner_is_exported_once_per_weights(tiny_checkpoint, tmp_path):
    model = load_model(tiny_checkpoint)
    assert as_backend(model, "torch") is model
    runner = as_backend(model, "onnxruntime", cache=tmp_path)
    files = sorted(tmp_path.glob("*.onnx"))
    assert [p.name for p in files] == [runner.path.name]
    assert runner.path.name.startswith("tiny-coco-")
    image = np.random.default_rng(1).integers(0, 255, (120, 90, 3), dtype=np.uint8)
    boxes = np.array([[5, 5, 80, 110], [20, 0, 90, 60]], np.float32)
    want = model.predict(image, boxes, return_heatmaps=True)
    got = runner.predict(image, boxes, return_heatmaps=True)
    np.testing.assert_allclose(got.heatmaps, want.heatmaps, rtol=1e-4,
                               atol=1e-5 * np.abs(want.heatmaps).max())
    np.testing.assert_allclose(got.scores, want.scores, rtol=1e-4)
    # same weights: the cached file and session are reused; new weights: a new export
    assert as_backend(load_model(tiny_checkpoint), "onnxruntime", cache=tmp_path) is runner
    before = model_digest(model)
    with torch.no_grad():
        model.head.final_layer.bias.add_(1.0)
    assert model_digest(model) != before
    other = as_backend(model, "onnxruntime", cache=tmp_path)
    assert other is not runner and len(list(tmp_path.glob("*.onnx"))) == 2
    assert np.allclose(other.predict(image, boxes).scores, runner.predict(image, boxes).scores + 1,
                       rtol=1e-4)
    # the flip-test setting follows the model
    model.flip_test = False
    assert as_backend(model, "onnxruntime", cache=tmp_path).flip_test is False
    backends._RUNNERS.clear()


def test_torch_inference_network_folds_batchnorm_and_follows_the_weights(tiny_checkpoint):
    from heatpose.inference.backends_torch import inference_network

    model = load_model(tiny_checkpoint)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():               # BN statistics far from the identity
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen))
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.weight.copy_(torch.randn(m.num_features, generator=gen))
    keys = list(model.state_dict())
    x = torch.randn(2, 3, *model.input_size[::-1], generator=gen)
    net, channels_last = inference_network(model)
    assert channels_last and not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    with torch.no_grad():
        want = model(x)
        np.testing.assert_allclose(net(x.contiguous(memory_format=torch.channels_last)).numpy(),
                                   want.numpy(), rtol=1e-4, atol=1e-5 * want.abs().max().item())
    assert inference_network(model)[0] is net and list(model.state_dict()) == keys
    with torch.no_grad():
        model.head.final_layer.bias.add_(1.0)
    net2, _ = inference_network(model)
    assert net2 is not net
    with torch.no_grad():
        np.testing.assert_allclose(net2(x).numpy(), (want + 1).numpy(), rtol=1e-4,
                                   atol=1e-5 * want.abs().max().item())


def test_digest_reads_the_weights_once_and_follows_every_change(tiny_checkpoint):
    """The ONNX cache key: the weights are hashed once per model until one changes; every
    change (in-place, load_state_dict of one element, a replaced or moved parameter, an
    optimizer step, the description) gives a new key; equal contents give equal keys."""
    model = load_model(tiny_checkpoint)
    reads = []
    real = model.state_dict

    def counting(*args, **kwargs):
        if not kwargs.get("keep_vars"):
            reads.append(1)
        return real(*args, **kwargs)

    model.state_dict = counting
    first = model_digest(model)
    assert model_digest(model) == first and len(reads) == 1      # no second read of weights
    assert model_digest(load_model(tiny_checkpoint)) == first     # content, not identity
    bias = model.head.final_layer.bias
    seen = {first}

    def changed() -> str:
        key = model_digest(model)
        assert key not in seen
        seen.add(key)
        return key

    with torch.no_grad():
        bias[0] += 1e-3
    changed()
    state = {k: v.clone() for k, v in real().items()}
    state["backbone.conv1.weight"].view(-1)[7] += 1.0
    model.load_state_dict(state)
    changed()
    model.head.final_layer.bias = torch.nn.Parameter(bias.detach() * 2)
    changed()
    opt = torch.optim.SGD([model.head.final_layer.weight], lr=0.1)
    model.head.final_layer.weight.grad = torch.ones_like(model.head.final_layer.weight)
    opt.step()
    changed()
    model.flip_test = not model.flip_test
    changed()                                  # the description alone: weights not re-read
    model.double()
    changed()
    assert len(reads) == 6


@pytest.mark.parametrize("fused", [True, False])
def test_caches_follow_fused_optimizer_steps(tiny_checkpoint, fused):
    """torch's fused optimizer kernels (the CPU trainer's Adam/AdamW/SGD) update the weights
    without bumping their version counters: the next prediction (the trainer's validation)
    must still use the new weights, and the ONNX cache key must change."""
    model = load_model(tiny_checkpoint)
    w, h = model.input_size
    crops = np.random.default_rng(0).integers(0, 256, (2, h, w, 3), dtype=np.uint8)
    boxes = np.array([[0, 0, w, h]] * 2, np.float32)
    centers, scales = (boxes[:, :2] + boxes[:, 2:]) / 2, boxes[:, 2:] - boxes[:, :2]

    def heatmaps(m):
        return m.predict_crops(crops, centers, scales, boxes, flip_test=False,
                               return_heatmaps=True).heatmaps

    before, digest = heatmaps(model), model_digest(model)
    opt = torch.optim.SGD(model.parameters(), lr=1e-2, fused=fused)
    for p in model.parameters():
        p.grad = torch.full_like(p, 0.1)
    opt.step()
    after = heatmaps(model)
    assert np.abs(after - before).max() > 1e-4
    fresh = load_model(tiny_checkpoint)
    fresh.load_state_dict(model.state_dict())
    np.testing.assert_allclose(after, heatmaps(fresh), rtol=1e-5, atol=1e-6)
    assert model_digest(model) != digest
