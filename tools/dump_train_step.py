"""One MMPose 1.3.2 training step per recipe, as a small fixture for tests/test_train_step.py.

Runs ONLY with the MMPose peer::

    /work/peer/bin/peer-python tools/dump_train_step.py [CONFIG_NAME ...] [--batch N]

For each config (default: :data:`DEFAULT_CONFIGS`) it writes
``tests/fixtures/train_step/<config>.npz`` (a few tens of KB: sums and norms, no tensors):

* Weights: ``../shared/reference/weights_rule.py`` on the model's state_dict keys, model in
  train mode (as ``../shared/reference/train_step/``).
* Batch: the first ``--batch`` samples (default: :data:`DEFAULT_CONFIGS`) of ``../shared/data/coco_mini`` (train2017, MMPose's
  dataset order) through the config's own train pipeline **with the random steps removed**
  (RandomFlip, RandomHalfBody, RandomBBoxTransform and any other ``Random*``), so it does not
  depend on a seed and heatpose can regenerate it with augmentation off; then
  ``data_preprocessor(training=True)``. CombinedDataset recipes (COCO+AIC): the COCO part.
  Stored to check heatpose's batch: ``ann_ids``, ``inputs_sum`` (N,) and ``inputs_pool``
  (N, 3, H/8, W/8) 8x8 average-pooled normalised inputs; ``target_sum``/``target_max`` (N, K),
  ``weights`` (N, K).
* ``codec_json``: the config's training codec (``codec``), as MMPose writes it.
* ``losses_json``: ``model.loss(inputs, data_samples)``'s loss terms; ``loss`` = their sum
  (mmengine's ``parse_losses``).
* After ``loss.backward()``: ``param_names``, ``grad_norm``, ``grad_sum``; ``bn_names``,
  ``bn_mean_sum``, ``bn_var_sum``. After ``torch.optim.Adam(lr=5e-4).step()``: ``new_param_sum``.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import os.path as osp
import sys

import numpy as np
import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SHARED = osp.join(osp.dirname(ROOT), "shared")
DATA_ROOT = osp.join(SHARED, "data", "coco_mini")
OUT = osp.join(ROOT, "tests", "fixtures", "train_step")
# config -> batch size (1 for the two slowest, to keep the test run short)
DEFAULT_CONFIGS = {
    "td-hm_res50_dark-8xb64-210e_coco-256x192": 2,
    "td-hm_hrnet-w32_udp-8xb64-210e_coco-256x192": 2,
    "td-hm_res50_8xb64-210e_coco-384x288": 1,
    "td-hm_hrnet-w48_8xb32-210e_coco-256x192": 1,
    "td-hm-vis_res50_8xb64-210e_coco-aic-256x192-merge": 2,
}
POOL = 8


def config_path(name: str) -> str:
    import mmpose

    base = osp.join(osp.dirname(mmpose.__file__), ".mim", "configs")
    hits = glob.glob(osp.join(base, "**", name + ".py"), recursive=True)
    if len(hits) != 1:
        raise SystemExit(f"{name}: {len(hits)} config files found under {base}")
    return hits[0]


def build_batch(cfg, n: int):
    """(inputs, data_samples, ann_ids) of the first ``n`` samples, random steps removed."""
    from mmengine.dataset import pseudo_collate
    from mmpose.registry import DATASETS

    ds_cfg = cfg.train_dataloader.dataset
    pipeline = ds_cfg.get("pipeline")
    if ds_cfg.type == "CombinedDataset":
        ds_cfg = ds_cfg.datasets[0]
        if ds_cfg.type != "CocoDataset":
            raise SystemExit(f"first dataset of the CombinedDataset is {ds_cfg.type}")
    pipeline = [dict(t) for t in (pipeline or ds_cfg.pipeline)
                if not str(t["type"]).startswith("Random")]
    ds_cfg = dict(ds_cfg, data_root=DATA_ROOT, ann_file="annotations/person_keypoints_train2017.json",
                  data_prefix=dict(img="train2017/"), pipeline=pipeline)
    ds = DATASETS.build(ds_cfg)
    items = [ds[i] for i in range(n)]
    ann_ids = [int(ds.get_data_info(i)["id"]) for i in range(n)]
    return pseudo_collate(items), ann_ids


def dump(name: str, batch: int) -> str:
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpose.apis import init_model

    sys.path.insert(0, osp.join(SHARED, "reference"))
    from weights_rule import deterministic_state_dict

    torch.manual_seed(0)
    cfg = Config.fromfile(config_path(name))
    init_default_scope("mmpose")
    model = init_model(cfg, checkpoint=None, device="cpu")
    sd = model.state_dict()
    model.load_state_dict(deterministic_state_dict([(k, tuple(v.shape)) for k, v in sd.items()]),
                          strict=True)
    model.train()
    data, ann_ids = build_batch(cfg, batch)
    data = model.data_preprocessor(data, training=True)
    inputs, samples = data["inputs"], data["data_samples"]
    target = torch.stack([s.gt_fields.heatmaps for s in samples]).double()
    weights = torch.stack([torch.as_tensor(s.gt_instance_labels.keypoint_weights)[0]
                           for s in samples]).double()
    losses = model.loss(inputs, samples)
    terms = {k: v for k, v in losses.items() if "loss" in k}
    loss = sum(terms.values())
    loss.backward()
    params = list(model.named_parameters())
    bns = [(n, m) for n, m in model.named_modules()
           if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    out = dict(
        config=np.array(name), mmpose_version=np.array(__import__("mmpose").__version__),
        codec_json=np.array(json.dumps(cfg.codec.to_dict())),
        ann_ids=np.array(ann_ids, np.int64),
        inputs_sum=inputs.double().sum((1, 2, 3)).numpy(),
        inputs_pool=torch.nn.functional.avg_pool2d(inputs, POOL).numpy().astype(np.float32),
        target_sum=target.sum((2, 3)).numpy(), target_max=target.amax((2, 3)).numpy(),
        weights=weights.numpy().astype(np.float32),
        losses_json=np.array(json.dumps({k: float(v) for k, v in terms.items()})),
        loss=np.array(float(loss), np.float64),
        param_names=np.array([n for n, _ in params]),
        grad_norm=np.array([p.grad.double().norm().item() for _, p in params]),
        grad_sum=np.array([p.grad.double().sum().item() for _, p in params]),
        bn_names=np.array([n for n, _ in bns]),
        bn_mean_sum=np.array([m.running_mean.double().sum().item() for _, m in bns]),
        bn_var_sum=np.array([m.running_var.double().sum().item() for _, m in bns]),
    )
    adam = {"lr": 5e-4, "betas": [0.9, 0.999], "eps": 1e-8}
    opt = torch.optim.Adam([p for _, p in params], lr=adam["lr"], betas=tuple(adam["betas"]),
                           eps=adam["eps"])
    opt.step()
    out["new_param_sum"] = np.array([p.detach().double().sum().item() for _, p in params])
    out["adam"] = np.array(json.dumps(adam))
    os.makedirs(OUT, exist_ok=True)
    path = osp.join(OUT, name + ".npz")
    np.savez_compressed(path, **out)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("configs", nargs="*", default=list(DEFAULT_CONFIGS))
    ap.add_argument("--batch", type=int, help="batch size (default: DEFAULT_CONFIGS's, else 2)")
    args = ap.parse_args()
    for name in args.configs:
        path = dump(name, args.batch or DEFAULT_CONFIGS.get(name, 2))
        print(f"{path}: {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
