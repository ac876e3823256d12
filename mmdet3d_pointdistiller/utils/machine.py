"""What machine a benchmark ran on, for its report."""
import platform
from pathlib import Path

CPUINFO = Path('/proc/cpuinfo')


def cpu_model_name(cpuinfo: Path = CPUINFO) -> str:
    """The first ``model name`` of ``/proc/cpuinfo`` (Linux); elsewhere, or when the file has
    none, ``platform.processor()`` or ``'unknown'``."""
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors='replace').splitlines():
            if line.startswith('model name') and ':' in line:
                return line.split(':', 1)[1].strip()
    return platform.processor() or 'unknown'
