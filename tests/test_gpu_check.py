"""tools/gpu_check.sh: ready for a GPU machine, refuses at once without CUDA."""
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from mmdet3d_pointdistiller.bench.gpu_check import COMMANDS

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / 'tools' / 'gpu_check.sh'


def test_script_exists_and_is_executable():
    assert SCRIPT.is_file() and os.access(SCRIPT, os.X_OK)
    proc = subprocess.run(['bash', '-n', str(SCRIPT)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr  # valid bash


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the refusal without CUDA')
def test_exits_at_once_with_a_clear_message_without_cuda(tmp_path):
    report = tmp_path / 'gpu_check.md'
    env = dict(os.environ, PD_PYTHON_BIN=sys.executable, PD_GPU_CHECK_OUT=str(report),
               PD_GPU_CHECK_WORK=str(tmp_path / 'work'))
    t0 = time.perf_counter()
    proc = subprocess.run([str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - t0
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert 'CUDA is not available on this machine' in proc.stderr
    assert 'cuda available: False' in proc.stderr  # says what it found
    assert 'was not written' in proc.stderr
    assert not report.exists() and not (tmp_path / 'work').exists()
    assert elapsed < 60  # one torch import, nothing else (seconds on an idle machine)


def test_report_checker_rejects_unexpected_skips(tmp_path):
    junit = tmp_path / 'j.xml'
    junit.write_text(
        '<testsuites><testsuite><testcase classname="tests.test_cuda_checks" '
        'name="test_onnx_parity_with_cuda_execution_provider"><skipped message="onnxruntime '
        'has no CUDAExecutionProvider (install ...)"/></testcase>'
        '<testcase classname="tests.test_amp" name="test_fp16_amp_optim_wrapper_on_cuda">'
        '<skipped message="float16 AMP needs CUDA"/></testcase>'
        '<testcase classname="tests.test_x" name="test_ok"/></testsuite></testsuites>')
    report = tmp_path / 'r.md'
    proc = subprocess.run([sys.executable, str(REPO / 'tools/gpu_check.py'), 'check-pytest',
                           str(report), str(junit), '3'], capture_output=True, text=True)
    assert proc.returncode == 1
    assert 'test_fp16_amp_optim_wrapper_on_cuda: skipped' in proc.stderr
    text = report.read_text()
    assert 'skipped (allowed)' in text and '**FAILED: CUDA tests**' in text


def _checker(capsys, *args: str) -> SimpleNamespace:
    """One ``tools/gpu_check.py`` subcommand, run in-process: the tool only looks the
    subcommand up in ``bench.gpu_check.COMMANDS`` (its command-line wiring is tested once, by
    subprocess, in test_report_checker_rejects_unexpected_skips)."""
    capsys.readouterr()
    code = 0
    try:
        COMMANDS[args[0].replace('-', '_')](*args[1:])
    except SystemExit as exc:  # a failed check exits 1, as the tool does
        code = exc.code
    return SimpleNamespace(returncode=code, stderr=capsys.readouterr().err)


def test_amp_checker_needs_finite_losses_and_a_scaler_state(tmp_path, capsys):
    import json
    work = tmp_path / 'amp'
    (work / '20260101_000000' / 'vis_data').mkdir(parents=True)
    scalars = work / '20260101_000000' / 'vis_data' / 'scalars.json'
    records = [dict(iter=i, loss=1.0 / i, loss_pd_pfn=0.1) for i in (10, 20)]
    scalars.write_text('\n'.join(json.dumps(r) for r in records))
    ckpt = dict(optimizer=dict(state={}, loss_scaler=dict(scale=32768.0, _growth_tracker=5)))
    torch.save(ckpt, work / 'iter_20.pth')
    report = tmp_path / 'r.md'
    proc = _checker(capsys, 'check-amp', str(report), str(work), '20', '7')
    assert proc.returncode == 0, proc.stderr
    assert 'loss_scale 32768.0' in report.read_text()
    records[1]['loss'] = float('nan')
    scalars.write_text('\n'.join(json.dumps(r) for r in records))
    proc = _checker(capsys, 'check-amp', str(report), str(work), '20', '7')
    assert proc.returncode == 1 and 'non-finite losses at iterations [20]' in proc.stderr
    records[1]['loss'] = 0.5
    scalars.write_text('\n'.join(json.dumps(r) for r in records))
    torch.save(dict(optimizer=dict(state={})), work / 'iter_20.pth')  # no AMP scaler
    proc = _checker(capsys, 'check-amp', str(report), str(work), '20', '7')
    assert proc.returncode == 1 and 'loss scaler state None' in proc.stderr


def test_kd_checker_needs_equal_dense_and_ours_losses(tmp_path, capsys):
    import json

    def case(loss_ours):
        return dict(dense=dict(loss=1.0, time_s=0.01, peak_mb=100.0),
                    ours=dict(loss=loss_ours, time_s=0.004, peak_mb=20.0),
                    speedup=2.5, memory_ratio=5.0)

    path = tmp_path / 'kd.json'
    path.write_text(json.dumps(dict(pointpillars_4x=case(1.00001),
                                    pointpillars_4x_single_graph=case(1.0))))
    report = tmp_path / 'r.md'
    assert _checker(capsys, 'check-kd', str(report), str(path), '5').returncode == 0
    assert '| pointpillars_4x | 10.0 | 4.0 | 2.50 | 100 | 20 | 5.0 | 1.0e-05 |' in \
        report.read_text()
    path.write_text(json.dumps(dict(pointpillars_4x=case(1.01),
                                    pointpillars_4x_single_graph=case(1.0))))
    proc = _checker(capsys, 'check-kd', str(report), str(path), '5')
    assert proc.returncode == 1 and 'pointpillars_4x: dense loss 1.0 vs ours 1.01' in proc.stderr
