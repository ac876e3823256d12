"""The simulated-data quickstart (``tools/quickstart.py``) and its measuring helpers."""
from .complexity import count_flops, count_params, measure_latency
from .metrics import extract_ap40, final_val_metrics, format_table, moderate_map
from .pipeline import run_quickstart
from .settings import BUDGETS, CONFIGS, Budget, budget_cfg_options

__all__ = ['BUDGETS', 'CONFIGS', 'Budget', 'budget_cfg_options', 'count_flops', 'count_params',
           'extract_ap40', 'final_val_metrics', 'format_table', 'measure_latency',
           'moderate_map', 'run_quickstart']
