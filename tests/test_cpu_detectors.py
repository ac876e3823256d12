"""Stock SECOND, PointRCNN and PointPillars train and predict on a CPU-only machine.

One real KITTI frame (``kitti_real/000008`` of the test data folder, see ``tests/conftest.py``)
goes through mmdet3d's own ``KittiDataset`` (boxes from the info pkl, camera -> LiDAR by the
dataset) and the model's ``data_preprocessor``; each stock config is built with
``MODELS.build`` and runs one ``loss`` + ``backward`` and one ``predict``. SECOND needs
spconv's CPU build plus ``compat.spconv_cpu``; PointRCNN needs ``compat.point_ops_cpu``. It gets
4096 sampled points instead of the stock pipeline's 16384: its first set-abstraction layer samples
4096 anyway, so every layer after the first runs at its stock size, at a quarter of the cost of
the first furthest-point sampling and ball query on the CPU.
"""
from pathlib import Path

import numpy as np
import pytest
import torch

import mmdet3d_pointdistiller  # noqa: F401  activates the shims
from mmdet3d_pointdistiller import compat
from mmdet3d_pointdistiller.testing import kitti_real_dir
from mmdet3d_pointdistiller.utils import load_kitti_frame

FRAME = kitti_real_dir()
CLASSES = ['Pedestrian', 'Cyclist', 'Car']
CONFIGS = {
    'pointpillars': 'mmdet3d::pointpillars/pointpillars_hv_secfpn_8xb6-160e_kitti-3d-3class.py',
    'second': 'mmdet3d::second/second_hv_secfpn_8xb6-80e_kitti-3d-3class.py',
    'point_rcnn': 'mmdet3d::point_rcnn/point-rcnn_8xb2_kitti-3d-3class.py',
}
RCNN_POINTS = 4096  # the first SA layer's num_points (stock pipeline: 16384)

pytestmark = [
    pytest.mark.skipif(torch.cuda.is_available(),
                       reason='CPU-only path: the CPU shims are inactive when CUDA is available'),
]


def _config(name):
    from mmengine.hub import get_config
    return get_config(CONFIGS[name])


def _batch(name: str, cfg, train: bool):
    """One-sample batch of the real frame through KittiDataset and the stock transforms."""
    from mmengine.dataset import pseudo_collate
    num_points = RCNN_POINTS if name == 'point_rcnn' else None
    return pseudo_collate([load_kitti_frame(FRAME, cfg.point_cloud_range, train=train,
                                            num_points=num_points, classes=CLASSES)])


@pytest.fixture(scope='module', params=list(CONFIGS))
def detector(request):
    from mmengine.registry import init_default_scope
    from mmdet3d.registry import MODELS
    init_default_scope('mmdet3d')
    name = request.param
    if name == 'second':
        pytest.importorskip('spconv', reason='SECOND on CPU needs spconv (setup.cfg extra "cpu")')
    torch.manual_seed(0)
    cfg = _config(name)
    return name, cfg, MODELS.build(cfg.model)


def test_shims_needed_here_are_active():
    assert compat.ACTIVE['point_ops_cpu'] is True
    pytest.importorskip('spconv', reason='spconv (setup.cfg extra "cpu") is not installed')
    assert compat.ACTIVE['spconv_cpu'] is True


def test_train_step_and_predict_on_cpu(detector):
    name, cfg, model = detector
    batch = _batch(name, cfg, train=True)
    gt = batch['data_samples'][0].gt_instances_3d
    assert len(gt.bboxes_3d) == 6 and set(gt.labels_3d.tolist()) == {2}  # 6 real Cars
    if name == 'point_rcnn':
        assert batch['inputs']['points'][0].shape == (RCNN_POINTS, 4)

    model.train()
    data = model.data_preprocessor(batch, training=True)
    losses = model(**data, mode='loss')
    loss, log = model.parse_losses(losses)
    expected = {'pointpillars': {'loss_cls', 'loss_bbox', 'loss_dir'},
                'second': {'loss_cls', 'loss_bbox', 'loss_dir'},
                'point_rcnn': {'rpn_bbox_loss', 'rpn_semantic_loss', 'loss_cls', 'loss_bbox',
                               'loss_corner'}}[name]
    assert expected <= set(log), sorted(log)
    assert all(np.isfinite(float(v)) for v in log.values()), log
    assert float(loss) > 0
    model.zero_grad()
    loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
    assert all(g is None or torch.isfinite(g).all() for g in grads.values())
    first = {'pointpillars': 'voxel_encoder.', 'second': 'middle_encoder.',
             'point_rcnn': 'backbone.SA_modules.0.'}[name]
    # the gradient reached the first stage: spconv's CPU backward / the CPU point ops ran
    assert any(g is not None and g.abs().sum() > 0 for n, g in grads.items()
               if n.startswith(first)), first

    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(_batch(name, cfg, train=False), training=False)
        results = model(**data, mode='predict')
    pred = results[0].pred_instances_3d
    boxes, scores, labels = pred.bboxes_3d.tensor, pred.scores_3d, pred.labels_3d
    assert boxes.dim() == 2 and boxes.shape[1] == 7 and len(boxes) == len(scores) == len(labels)
    assert len(boxes) > 0
    assert torch.isfinite(boxes).all() and torch.isfinite(scores).all()
    assert ((labels >= 0) & (labels < len(CLASSES))).all()


def test_committed_cpu_detector_record_renders_its_report(tmp_path):
    """benchmarks/cpu_detectors.md is the report of its JSON (bench/cpu_detectors.py)."""
    import json

    from mmdet3d_pointdistiller.bench.cpu_detectors import write_report
    bench = Path(__file__).resolve().parents[1] / 'benchmarks'
    record = json.loads((bench / 'cpu_detectors.json').read_text())
    write_report(record, tmp_path)
    assert (tmp_path / 'cpu_detectors.md').read_text() == (bench / 'cpu_detectors.md').read_text()
    assert set(record['detectors']) == {'pointpillars', 'second', 'point_rcnn'}
