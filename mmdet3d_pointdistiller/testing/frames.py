"""The real KITTI frame 000008 through mmdet3d's own ``KittiDataset`` pipeline, for tests."""
from typing import Dict, List, Sequence

from ..utils import load_kitti_frame
from ..utils.kitti_classes import THREE_CLASSES
from .configs import SMALL_CROP
from .data import need_kitti_frame

#: class order of the shipped KITTI configs
CLASSES = list(THREE_CLASSES)

__all__ = ['CLASSES', 'frames', 'kitti_frame']


def kitti_frame(crop: Sequence[float], extra_transforms: Sequence[dict] = ()) -> Dict:
    """The real frame 000008 through mmdet3d's KittiDataset (LiDAR boxes, 3 classes).

    Skips the calling test when the frame is missing (:func:`~.data.need_kitti_frame`).

    Args:
        crop: point-cloud range of the points and boxes kept.
        extra_transforms: transforms inserted before ``Pack3DDetInputs``.

    Returns:
        dict: ``inputs`` and ``data_samples`` of one sample, with at least one box.
    """
    kitti_real = need_kitti_frame()
    item = load_kitti_frame(kitti_real, crop, train=True, classes=CLASSES,
                            extra_transforms=extra_transforms)
    assert len(item['data_samples'].gt_instances_3d) >= 1  # real Car boxes are in the crop
    return item


def frames() -> List[Dict]:
    """Frame 000008 and its mirror image (y -> -y) on :data:`~.configs.SMALL_CROP`, both
    with their Car boxes."""
    flip = dict(type='RandomFlip3D', sync_2d=False, flip_ratio_bev_horizontal=1.0)
    return [kitti_frame(SMALL_CROP), kitti_frame(SMALL_CROP, [flip])]
