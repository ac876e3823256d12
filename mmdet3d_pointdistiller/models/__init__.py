"""Registry modules of mmdet3d-pointdistiller (registered into mmdet3d's ``MODELS``)."""
