"""PreciseBNHook / update_bn_stats: BN running statistics recomputed from training batches."""
import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

import mmdet3d_pointdistiller  # noqa: F401  registers the hook
from mmdet3d.registry import HOOKS
from mmdet3d_pointdistiller.engine.hooks import PreciseBNHook, update_bn_stats


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 1)
        self.bn = nn.BatchNorm2d(3, momentum=0.01)

    def _forward(self, inputs, data_samples=None):
        return self.bn(self.conv(inputs['x']))


class _Distiller(nn.Module):
    """Stands in for PointDistillerDetector: a student, a frozen teacher, a preprocessor."""

    def __init__(self):
        super().__init__()
        self.student, self.teacher = _Net(), _Net()
        self.teacher.eval()

    def data_preprocessor(self, batch, training):
        assert training is True
        return dict(inputs=dict(x=batch['x']), data_samples=None)


def _batches(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [dict(x=torch.randn(4, 2, 5, 5, generator=g) * 3 + 1) for _ in range(n)]


def test_running_stats_are_the_plain_average_over_the_batches():
    model = _Distiller()
    model.student.eval()
    teacher_state = {k: v.clone() for k, v in model.teacher.state_dict().items()}
    batches = _batches(5)
    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)
    states = (random.getstate(), np.random.get_state()[1].copy(), torch.random.get_rng_state())
    assert update_bn_stats(model, batches, 4) == 4
    with torch.no_grad():
        feats = [model.student.conv(b['x']) for b in batches[:4]]
    mean = torch.stack([f.mean(dim=(0, 2, 3)) for f in feats]).mean(0)
    var = torch.stack([f.var(dim=(0, 2, 3), unbiased=True) for f in feats]).mean(0)
    bn = model.student.bn
    torch.testing.assert_close(bn.running_mean, mean, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(bn.running_var, var, rtol=1e-5, atol=1e-6)
    assert bn.momentum == 0.01 and int(bn.num_batches_tracked) == 4
    assert not model.student.training and not model.teacher.training  # modes restored
    for k, v in model.teacher.state_dict().items():  # the teacher is never touched
        assert torch.equal(v, teacher_state[k]), k
    # the augmentation RNGs continue as if nothing had run
    assert random.getstate() == states[0]
    assert np.array_equal(np.random.get_state()[1], states[1])
    assert torch.equal(torch.random.get_rng_state(), states[2])


def test_hook_runs_at_validation_iterations_and_the_last_one(monkeypatch):
    from mmdet3d_pointdistiller.engine.hooks import precise_bn_hook
    calls = []
    model = _Distiller()
    runner = SimpleNamespace(model=model, train_dataloader=_batches(3), max_iters=10,
                             train_loop=SimpleNamespace(val_interval=4), iter=0)
    real = precise_bn_hook.update_bn_stats

    def spy(m, batches, n):
        calls.append((runner.iter + 1, n))
        return real(m, batches, n)

    monkeypatch.setattr(precise_bn_hook, 'update_bn_stats', spy)
    hook = HOOKS.build(dict(type='PreciseBNHook', num_batches=2))
    assert isinstance(hook, PreciseBNHook)
    for it in range(10):
        runner.iter = it
        hook.after_train_iter(runner, it)
    assert calls == [(4, 2), (8, 2), (10, 2)]
    assert int(model.student.bn.num_batches_tracked) == 2
    with pytest.raises(ValueError, match='num_batches must be a positive int'):
        PreciseBNHook(num_batches=0)
    with pytest.raises(ValueError, match='interval must be a positive int'):
        PreciseBNHook(interval=-1)
