"""Reference LR values from mmengine's LinearLR + MultiStepLR (as MMPose's param_scheduler runs
them: LinearLR stepped per iteration, MultiStepLR per epoch) for tests/test_engine_config.py.
Run with the peer: /work/peer/bin/peer-python tools/engine_lr_reference.py"""
import json, torch
from mmengine.optim.scheduler import LinearLR, MultiStepLR
def run(base_lr, warm, start, milestones, gamma, epochs, epoch_len):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([p], lr=base_lr)
    lin = LinearLR(opt, start_factor=start, begin=0, end=warm, by_epoch=False)
    ms = MultiStepLR(opt, milestones=milestones, gamma=gamma, begin=0, end=epochs, by_epoch=True)
    lrs = []
    for e in range(epochs):
        for i in range(epoch_len):
            lrs.append(opt.param_groups[0]['lr'])
            lin.step()
        ms.step()
    return lrs
cases = []
for args in [(5e-4, 50, 0.001, [4, 7], 0.1, 10, 7), (2e-3, 20, 0.001, [2, 3], 0.5, 5, 13)]:
    cases.append({"base_lr": args[0], "warmup_iters": args[1], "start_factor": args[2],
                  "milestones": args[3], "gamma": args[4], "epochs": args[5], "epoch_length": args[6],
                  "lrs": run(*args)})

json.dump(cases, open('tests/fixtures/engine_lr_schedule.json', 'w'))
