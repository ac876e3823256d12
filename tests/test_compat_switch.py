"""The ``PD_COMPAT`` switch: with it off, importing the package rebinds nothing upstream; with
it on (the default), the log names every active shim and everything it rebinds.

Each case runs in a fresh interpreter (an import-time effect cannot be observed in a process
that imported the package already). The child imports the upstream modules the shims touch,
keeps a reference to every attribute of every loaded mmcv / mmdet3d / mmengine / spconv module
and to every entry of their classes' ``__dict__`` (plus mmengine's checkpoint-loader table),
imports ``mmdet3d_pointdistiller`` and reports what is no longer the same object.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mmdet3d_pointdistiller import compat

REPO = Path(__file__).resolve().parents[1]

CHILD = r'''
import importlib, json, sys
PREFIXES = ('mmcv', 'mmdet3d', 'mmengine', 'spconv')
for name in ['mmcv.ops', 'mmdet3d.apis', 'mmdet3d.datasets.transforms.dbsampler',
             'mmdet3d.structures.bbox_3d.base_box3d', 'mmdet3d.models.layers.box3d_nms',
             'mmdet3d.models.middle_encoders.sparse_encoder', 'mmengine.dist.utils',
             'mmengine.model.wrappers', 'mmengine.runner.checkpoint', 'spconv.pytorch.ops']:
    try:
        importlib.import_module(name)
    except ImportError:  # spconv is optional
        pass

def snapshot():
    snap = {}
    for mname, mod in list(sys.modules.items()):
        if mod is None or not mname.startswith(PREFIXES):
            continue
        for attr, value in list(vars(mod).items()):
            snap[(mname, attr)] = value
            if isinstance(value, type) and getattr(value, '__module__', None) == mname:
                for key, member in list(vars(value).items()):
                    snap[(mname, attr + '.' + key)] = member
    from mmengine.runner.checkpoint import CheckpointLoader
    for prefix, loader in CheckpointLoader._schemes.items():
        snap[('mmengine.runner.checkpoint', 'CheckpointLoader._schemes[%r]' % prefix)] = loader
    return snap

before = snapshot()
import mmdet3d_pointdistiller
after = snapshot()
changed = sorted('%s:%s' % key for key, value in before.items()
                 if key in after and after[key] is not value)
print('PD_RESULT ' + json.dumps(dict(changed=changed, n=len(before),
                                     active=mmdet3d_pointdistiller.compat.ACTIVE)))
'''


def run_child(switch: str | None) -> tuple[dict, str]:
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=str(REPO))
    env.pop('PD_COMPAT', None)
    if switch is not None:
        env['PD_COMPAT'] = switch
    proc = subprocess.run([sys.executable, '-c', CHILD], env=env, cwd=str(REPO),
                          capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith('PD_RESULT '))
    return json.loads(line[len('PD_RESULT '):]), out


def test_switch_off_leaves_upstream_untouched():
    result, out = run_child('0')
    assert result['n'] > 10000  # the snapshot really covers the upstream packages
    assert result['changed'] == []
    assert not any(result['active'].values())
    assert 'PD_COMPAT=0, no compatibility shim activated' in out


def test_switch_on_logs_every_active_shim_and_rebinding():
    result, out = run_child(None)
    line = next(ln for ln in out.splitlines() if 'compatibility shims active' in ln)
    active = [name for name, on in result['active'].items() if on]
    if not active:
        pytest.skip('this machine needs no shim')
    for name in active:
        assert f'[{name}] {compat.SHIMS[name][1]}' in line
    # Every rebinding is named in the log line: `Class.method`, `Class.table` or the function.
    assert result['changed'], 'shims are active but nothing was rebound'
    for item in result['changed']:
        module, attr = item.split(':', 1)
        named = attr.split('[')[0]
        assert named in line, f'{item} was rebound but the log line does not name it:\n{line}'


def test_switch_value_is_checked(monkeypatch):
    monkeypatch.setenv('PD_COMPAT', 'maybe')
    with pytest.raises(ValueError, match=r"PD_COMPAT='maybe' is not understood: use "
                                         r'PD_COMPAT=0'):
        compat.compat_enabled()
    monkeypatch.setenv('PD_COMPAT', 'off')
    assert compat.compat_enabled() is False
    monkeypatch.delenv('PD_COMPAT')
    assert compat.compat_enabled() is True
