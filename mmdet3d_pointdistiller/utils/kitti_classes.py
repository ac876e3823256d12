"""KITTI class names in the three orders the package uses (one owner; the orders differ on
purpose and are not interchangeable).
"""
__all__ = ['THREE_CLASSES', 'INFO_CATEGORIES', 'REPORT_ORDER']

#: class order of the 3-class configs: a detector's label i is ``THREE_CLASSES[i]`` (mmdet3d's
#: KITTI 3-class configs, ``class_names``)
THREE_CLASSES = ('Pedestrian', 'Cyclist', 'Car')
#: mmdet3d's KITTI info label order (``bbox_label_3d`` of an info file without ``categories``)
INFO_CATEGORIES = ('Pedestrian', 'Cyclist', 'Car', 'Van', 'Truck', 'Person_sitting', 'Tram',
                   'Misc')
#: the order results are reported in (the paper's tables, the records' per-class columns)
REPORT_ORDER = ('Car', 'Pedestrian', 'Cyclist')
