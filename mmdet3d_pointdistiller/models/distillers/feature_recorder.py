"""Feature taps: record the outputs of named submodules with forward hooks.

A *tap* names a submodule by its dotted path (``'voxel_encoder'``, ``'backbone'``,
``'pts_neck'``, ``'neck'`` ...) and optionally selects one element of its output
(an ``int`` for a tuple/list output, a ``str`` for a dict output). The recorder
registers one forward hook per distinct submodule; the hook stores the output only
while :meth:`ModuleOutputRecorder.recording` is active, so ``predict()`` and the
runner's validation pay nothing.

For the teacher the recorder can *stop the forward* as soon as every tapped module
has produced its output: the hook raises :class:`StopForward`, which
:meth:`ModuleOutputRecorder.recording` swallows. The teacher therefore runs only as far
as its deepest tapped feature (no later backbone stages, neck or head), whatever the
detector class, without copying or patching it.

In-place operations after a tapped module (SECOND's ``ReLU(inplace=True)`` after each
BatchNorm) would overwrite a recorded output. For paths listed in ``clone_paths`` the hook
keeps the original output and hands a copy to the rest of the model; for every path the
recorder remembers the tensors' version counters, so :meth:`ModuleOutputRecorder.changed_in_place`
detects an output that was modified after it was recorded.

A module that its owner calls as ``module.forward(x)`` runs no hook: mmdet3d detectors'
``_forward`` calls ``bbox_head.forward(x)``. For paths listed in ``method_paths`` the recorder
therefore wraps the module's ``forward`` method instead (the output is handled exactly as by
the hook), like MMRazor's ``MethodOutputsRecorder`` but per instance and only while
:meth:`ModuleOutputRecorder.recording` is active, so outside a recording the module holds no
extra attribute (it pickles and deep-copies as before) and no other instance is affected.
"""
from __future__ import annotations

import difflib
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Union

from torch import Tensor, nn

from mmdet.models.necks import FPN
from mmdet3d.models.backbones import SECOND
from mmdet3d.models.necks import PointNetFPNeck, SECONDFPN
from mmdet3d.models.voxel_encoders import PillarFeatureNet

OutputSelector = Optional[Union[int, str]]
_UNSET = object()

__all__ = ['StopForward', 'ModuleOutputRecorder', 'resolve_submodule', 'select_output',
           'infer_out_channels']


class StopForward(Exception):
    """Raised by a hook once every tapped module of a model has been recorded."""


def resolve_submodule(model: nn.Module, path: str, where: str) -> nn.Module:
    """Return ``model.<path>``, or raise a ``KeyError`` that lists close names.

    Args:
        model (nn.Module): the detector (teacher or student).
        path (str): dotted submodule path, e.g. ``'voxel_encoder'`` or ``'backbone.blocks.0'``.
        where (str): human-readable origin of ``path`` for the message, e.g.
            ``"distill_cfg[0].module (tap 'pfn', student)"``.
    """
    if not isinstance(path, str) or not path:
        raise KeyError(f'{where}: a submodule path must be a non-empty string, got {path!r}')
    try:
        return model.get_submodule(path)
    except AttributeError:
        names = [n for n, _ in model.named_modules() if n]
        close = difflib.get_close_matches(path, names, n=5, cutoff=0.5)
        top = [n for n, _ in model.named_children()]
        hint = f'; did you mean {close}?' if close else ''
        raise KeyError(f"{where}: {type(model).__name__} has no submodule {path!r}{hint} "
                       f'Top-level submodules: {top}') from None


def select_output(output: Any, selector: OutputSelector, where: str) -> Tensor:
    """Pick the tapped tensor out of a module output.

    Args:
        output: what the module returned (Tensor, tuple/list or dict).
        selector: ``None`` (the output must be a Tensor), an ``int`` index into a
            tuple/list, or a ``str`` key into a dict.
        where (str): origin for error messages, e.g. ``'distill_cfg[1].output'``.

    Returns:
        Tensor: the selected feature.
    """
    if selector is None:
        if isinstance(output, Tensor):
            return output
        if isinstance(output, (tuple, list)):
            kind = f'a {type(output).__name__} of length {len(output)}; set an int index'
        elif isinstance(output, dict):
            kind = f'a dict with keys {sorted(output)}; set a str key'
        else:
            kind = f'a {type(output).__name__}'
        raise TypeError(f'{where}=None but the module returned {kind}')
    if isinstance(selector, bool) or not isinstance(selector, (int, str)):
        raise TypeError(f'{where} must be None, an int or a str, got {selector!r}')
    if isinstance(selector, int):
        if not isinstance(output, (tuple, list)):
            raise TypeError(f'{where}={selector} is an index but the module returned '
                            f'{type(output).__name__}, not a tuple/list')
        if not -len(output) <= selector < len(output):
            raise IndexError(f'{where}={selector} is out of range: the module returned '
                             f'{len(output)} outputs')
        out = output[selector]
    else:
        if not isinstance(output, dict):
            raise TypeError(f'{where}={selector!r} is a key but the module returned '
                            f'{type(output).__name__}, not a dict')
        if selector not in output:
            raise KeyError(f'{where}={selector!r} is not among the output keys '
                           f'{sorted(output)}')
        out = output[selector]
    if not isinstance(out, Tensor):
        raise TypeError(f'{where}={selector!r} selects a {type(out).__name__}, not a Tensor')
    return out


def _last_norm_features(module: nn.Module) -> Optional[int]:
    last = None
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._NormBase):
            last = m.num_features
    return last


def infer_out_channels(module: nn.Module, selector: OutputSelector) -> Optional[int]:
    """Output channels of a tapped module known from its structure, else ``None``.

    Only modules whose output width is unambiguous from their attributes are covered
    (PointPillars' ``PillarFeatureNet``, the ``SECOND`` backbone, ``SECONDFPN``,
    mmdet's ``FPN`` and ``PointNetFPNeck``'s ``fp_features``); for any other module the
    distiller checks the width on the first forward instead.
    """
    if isinstance(module, PillarFeatureNet) and selector is None:
        last = module.pfn_layers[-1]
        return int(last.units) if getattr(last, 'last_vfe', False) else None
    if isinstance(module, SECOND) and isinstance(selector, int):
        if -len(module.blocks) <= selector < len(module.blocks):
            return _last_norm_features(module.blocks[selector])
        return None
    if isinstance(module, SECONDFPN) and selector in (0, -1):
        # SECONDFPN returns [cat(upsampled levels)]: one map with sum(out_channels) channels
        return int(sum(module.out_channels))
    if isinstance(module, FPN) and isinstance(selector, int):
        return int(module.out_channels)
    if isinstance(module, PointNetFPNeck) and selector == 'fp_features':
        convs = [m for m in module.FP_modules[-1].modules() if isinstance(m, nn.Conv2d)]
        return int(convs[-1].out_channels) if convs else None
    return None


def _versions(output: Any) -> List[int]:
    """Version counters of the Tensors of a module output (one level of nesting)."""
    if isinstance(output, Tensor):
        items = [output]
    elif isinstance(output, (tuple, list)):
        items = list(output)
    elif isinstance(output, dict):
        items = list(output.values())
    else:
        items = []
    return [t._version if isinstance(t, Tensor) and not t.is_inference() else -1
            for t in items]


class ModuleOutputRecorder:
    """Forward-hook recorder for the tapped submodules of one model.

    Args:
        model (nn.Module): the detector to tap.
        paths (dict[str, str]): ``{dotted module path: description}``; the description
            (e.g. ``"distill_cfg[0].module (tap 'pfn', teacher)"``) is used in error messages.
        stop_when_complete (bool): raise :class:`StopForward` from the hook once every
            path has been recorded (use for the frozen teacher).
        clone_paths (Sequence[str]): paths whose Tensor output is recorded as is while the
            model continues with a copy (``output.clone()``, still in the autograd graph),
            so in-place operations that follow cannot change the recorded feature.
        method_paths (Sequence[str]): paths recorded from a wrapper of the module's
            ``forward`` method (installed only during :meth:`recording`) instead of a forward
            hook, for modules called as ``module.forward(...)``.

    Only the first output of each module within a recording session is kept (a module
    that runs twice in one forward keeps its first call).
    """

    def __init__(self, model: nn.Module, paths: Dict[str, str],
                 stop_when_complete: bool = False, clone_paths: Sequence[str] = (),
                 method_paths: Sequence[str] = ()) -> None:
        self.stop_when_complete = stop_when_complete
        for name, subset in (('clone_paths', clone_paths), ('method_paths', method_paths)):
            unknown = sorted(set(subset) - set(paths))
            if unknown:
                raise KeyError(f'{name} {unknown} are not among the tapped paths '
                               f'{sorted(paths)}')
        self.clone_paths = frozenset(clone_paths)
        self.method_paths = frozenset(method_paths)
        self._active = False
        self._buffer: Dict[str, Any] = {}
        self._versions: Dict[str, List[int]] = {}
        self._handles: List[Any] = []
        self.modules: Dict[str, nn.Module] = {}
        for path, where in paths.items():
            module = resolve_submodule(model, path, where)
            self.modules[path] = module
            if path not in self.method_paths:
                self._handles.append(module.register_forward_hook(self._make_hook(path)))

    def _make_hook(self, path: str):

        def hook(module: nn.Module, inputs: Any, output: Any) -> Any:
            if not self._active or path in self._buffer:
                return None
            self._buffer[path] = output
            self._versions[path] = _versions(output)
            if self.stop_when_complete and len(self._buffer) == len(self.modules):
                raise StopForward(path)
            if path in self.clone_paths and isinstance(output, Tensor):
                return output.clone()  # the model continues with the copy
            return None

        return hook

    def _wrap_forward(self, path: str, module: nn.Module, forward: Callable) -> Callable:
        """``forward`` followed by the hook of ``path`` (which may replace the output)."""
        hook = self._make_hook(path)

        def recorded_forward(*args: Any, **kwargs: Any) -> Any:
            output = forward(*args, **kwargs)
            replaced = hook(module, args, output)
            return output if replaced is None else replaced

        return recorded_forward

    def _install_method_wrappers(self, saved: Dict[str, Any]) -> None:
        """Wrap ``forward`` of every method path, noting in ``saved`` what
        :meth:`_remove_method_wrappers` restores (the instance's own ``forward``, or
        ``_UNSET``) before each change."""
        for path in sorted(self.method_paths):
            module = self.modules[path]
            saved[path] = module.__dict__.get('forward', _UNSET)
            module.forward = self._wrap_forward(path, module, module.forward)

    def _remove_method_wrappers(self, saved: Dict[str, Any]) -> None:
        for path, own in saved.items():
            module = self.modules[path]
            if own is _UNSET:
                del module.forward  # back to the class method
            else:
                module.forward = own

    @contextmanager
    def recording(self) -> Iterator[Dict[str, Any]]:
        """Record tapped outputs inside the ``with`` block; yields the buffer dict.

        A :class:`StopForward` raised by this recorder's hooks ends the block early and
        is not propagated. The ``forward`` wrappers of ``method_paths`` exist only inside
        the block.
        """
        self._buffer = {}
        self._versions = {}
        saved: Dict[str, Any] = {}
        try:
            self._install_method_wrappers(saved)
            self._active = True
            yield self._buffer
        except StopForward:
            pass
        finally:
            self._active = False
            self._remove_method_wrappers(saved)

    def clear(self) -> None:
        """Drop the recorded outputs (so no feature outlives its training step)."""
        self._buffer = {}
        self._versions = {}

    def changed_in_place(self, recorded: Dict[str, Any], path: str) -> bool:
        """Whether a tensor of ``recorded[path]`` was modified in place after recording.

        Compares the version counters of the Tensor output (or of the Tensors of a
        tuple/list/dict output) with those seen by the hook. Inference-mode tensors have no
        version counter and count as unchanged.
        """
        if path not in self._versions or path not in recorded:
            return False
        return _versions(recorded[path]) != self._versions[path]

    def missing_in(self, recorded: Dict[str, Any]) -> List[str]:
        """Tapped paths absent from ``recorded`` (a buffer yielded by :meth:`recording`)."""
        return [p for p in self.modules if p not in recorded]

    def remove(self) -> None:
        """Remove every hook."""
        for h in self._handles:
            h.remove()
        self._handles = []

    @property
    def paths(self) -> Sequence[str]:
        return list(self.modules)
