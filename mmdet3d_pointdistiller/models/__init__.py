"""Registry modules of mmdet3d-pointdistiller (registered into mmdet3d's ``MODELS``)."""
from . import losses  # noqa: F401
from . import distillers  # noqa: F401
