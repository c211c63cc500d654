"""Training: config files (:mod:`.config`), the MMPose LR schedule (:mod:`.optim`), the loop
(:mod:`.trainer`: ``Trainer``, ``train_model``), torchrun/DDP helpers (:mod:`.distributed`),
checkpoint state (:mod:`.state`), validation (:mod:`.validate`) and logs (:mod:`.logging`)."""
