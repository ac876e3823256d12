"""A randomly initialised teacher checkpoint, for tests and benchmarks that need a teacher
without pretrained weights (none can be downloaded on the CI machines)."""
import copy
from pathlib import Path
from typing import Dict, Union

import torch

from mmdet3d.registry import MODELS


def save_random_teacher(teacher_cfg: Dict, path: Union[str, Path], wrap: bool = True,
                        seed: int = 0) -> Dict[str, torch.Tensor]:
    """Build ``teacher_cfg`` (an mmdet3d detector config), initialise it with ``seed``, give
    every BatchNorm non-trivial running statistics (mean U(-0.5, 0.5), var U(0.5, 2), 1000
    batches tracked, so eval-mode BN is not the identity) and save it to ``path``.

    Args:
        teacher_cfg: model config of the teacher, e.g. ``cfg.model.teacher``.
        path: file to write.
        wrap: save as a runner-style ``{'state_dict': ..., 'meta': {}}`` checkpoint (True)
            or as a bare state dict (False).
        seed: ``torch.manual_seed`` used for the initialisation and the statistics.

    Returns:
        The saved state dict.
    """
    torch.manual_seed(seed)
    teacher = MODELS.build(copy.deepcopy(teacher_cfg))
    teacher.init_weights()
    for m in teacher.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.num_batches_tracked.fill_(1000)
    state = teacher.state_dict()
    torch.save({'state_dict': state, 'meta': {}} if wrap else state, str(path))
    return state
