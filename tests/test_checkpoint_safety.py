"""torch >= 2.6 checkpoint safety: mmengine checkpoints load, anything else is refused."""
import collections
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint

import mmdet3d_pointdistiller  # noqa: F401  activates the shims
from mmdet3d_pointdistiller.compat import checkpoint as ckpt_compat
from mmdet3d_pointdistiller.compat import UnsafeCheckpointError

needs_new_torch = pytest.mark.skipif(not ckpt_compat.needs_safe_loader(),
                                     reason='torch < 2.6 loads with weights_only=False')


def _runner_like_checkpoint(path):
    """What mmengine 0.10.7's runner writes: meta with numpy scalars, a message hub."""
    hub = MessageHub.get_instance('test_ckpt_safety')
    for i in range(3):
        hub.update_scalar('train/loss', float(i))
    hub.update_info('iter', 3)
    ckpt = dict(
        meta=dict(epoch=1, iter=3, seed=np.int64(7), best=np.float64(0.5),
                  arr=np.arange(3, dtype=np.float32), dataset_meta=dict(classes=('Car', ))),
        state_dict=collections.OrderedDict(w=torch.ones(2)),
        message_hub=hub.state_dict(),
    )
    torch.save(ckpt, path)
    return ckpt


@needs_new_torch
def test_runner_checkpoint_needs_the_allow_list_and_loads(tmp_path):
    path = tmp_path / 'runner.pth'
    _runner_like_checkpoint(path)
    # what plain weights-only loading trips on (the measured list of the issue)
    unsafe = set(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
    assert 'mmengine.logging.history_buffer.HistoryBuffer' in unsafe
    assert 'builtins.getattr' in unsafe
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
    before = {repr(g) for g in torch.serialization.get_safe_globals()}
    loaded = _load_checkpoint(str(path), map_location='cpu')
    assert loaded['meta']['seed'] == 7 and isinstance(loaded['meta']['seed'], np.integer)
    np.testing.assert_array_equal(loaded['meta']['arr'], np.arange(3, dtype=np.float32))
    buf = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(buf, HistoryBuffer) and buf.mean() == pytest.approx(1.0)
    assert torch.equal(loaded['state_dict']['w'], torch.ones(2))
    # the allow-list was scoped to the call: torch's process-wide list is untouched
    after = torch.serialization.get_safe_globals()
    assert {repr(g) for g in after} == before and HistoryBuffer not in after


class _Evil:
    def __reduce__(self):
        return (print, ('arbitrary code ran',))


@needs_new_torch
def test_arbitrary_pickled_object_is_refused(tmp_path, capsys):
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'payload': _Evil()}, path)
    with pytest.raises(UnsafeCheckpointError, match=r'refusing to load checkpoint .*evil\.pth'):
        _load_checkpoint(str(path), map_location='cpu')
    assert 'arbitrary code ran' not in capsys.readouterr().out


class _GetattrAbuse:
    """Pickles as getattr(HistoryBuffer, '__init__'): allowed callable, forbidden attribute."""

    def __reduce__(self):
        return (getattr, (HistoryBuffer, '__init__'))


class _GetattrOther:
    def __reduce__(self):
        return (getattr, (collections.OrderedDict, 'fromkeys'))


@needs_new_torch
@pytest.mark.parametrize('payload', [_GetattrAbuse(), _GetattrOther()])
def test_getattr_is_limited_to_history_buffer_statistics(tmp_path, payload):
    path = tmp_path / 'getattr.pth'
    torch.save({'x': payload}, path)
    with pytest.raises(UnsafeCheckpointError, match='getattr'):
        _load_checkpoint(str(path), map_location='cpu')


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        _load_checkpoint(str(tmp_path / 'nope.pth'))


@needs_new_torch
def test_registered_as_mmengine_local_loader():
    loader = CheckpointLoader._get_checkpoint_loader('/some/local/file.pth')
    assert loader is ckpt_compat.load_from_safe_local


def test_inactive_on_old_torch(monkeypatch):
    monkeypatch.setattr(torch, '__version__', '2.5.1+cpu')
    assert ckpt_compat.needs_safe_loader() is False
    assert ckpt_compat.register_safe_checkpoint_loader() is False
