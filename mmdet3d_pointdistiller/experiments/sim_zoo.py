"""Train, evaluate and ship the simulated-dataset model zoo's teacher (the work of
``tools/train_sim_zoo.py``; its docstring gives the steps and commands).

:data:`MODELS` holds the zoo's stages; :func:`ship` writes the fp16 checkpoint, its record
``checkpoints/sim/<name>.json`` and the zoo table of ``configs/sim/README.md``.
"""
from __future__ import annotations

import datetime
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional, Tuple

import torch
from mmengine.config import Config

from ..apis.inference import load_detector
from ..quickstart.complexity import count_flops, count_params, measure_latency
from ..quickstart.dataset import ensure_dataset
from ..quickstart.evaluation import evaluate_checkpoint, val_batches
from ..quickstart.jobs import subprocess_env
from ..quickstart.metrics import (CLASSES, DIFFICULTIES, extract_ap40, final_val_metrics,
                                  moderate_map)
from ..quickstart.progress import Progress
from ..quickstart.settings import ZOO_RECORD, Budget
from ..utils.paths import checkout_root, sim_data_root
from .zoo import (curve_point, few_frame_check, learning_curve, precise_bn_checkpoint,
                  prediction_diff, save_fp16_checkpoint, sha256_file)

__all__ = ['MODELS', 'NUM_TRAIN', 'NUM_VAL', 'DATA_SEED', 'train', 'record_path', 'max_iters',
           'shipped_records', 'zoo_table', 'write_readme', 'precise_bn_curve', 'ship', 'run',
           'logged_wall_time']

REPO = checkout_root()

MODELS = {
    'teacher': dict(
        config='configs/sim/pointpillars_hv_secfpn_1xb4-3000it-cpu_sim-kitti-3d-3class.py',
        # the plain sim config with the same model: what users and distillers load it into
        deploy_config='configs/sim/pointpillars_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py',
        name='pointpillars_hv_secfpn_1xb4-3000it_sim-kitti-3d-3class',
        display='PointPillars (teacher, stock widths)'),
    # stage 2: a second cosine cycle from the teacher's final weights (its config's load_from)
    'teacher-ft': dict(
        config='configs/sim/pointpillars_hv_secfpn_1xb4-3000it-ft2000it-cpu_sim-kitti-3d-3class.py',
        deploy_config='configs/sim/pointpillars_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py',
        name='pointpillars_hv_secfpn_1xb4-3000it-ft2000it_sim-kitti-3d-3class',
        display='PointPillars (teacher, stock widths, 3000 + 2000 it)', init_from='teacher'),
}
NUM_TRAIN, NUM_VAL, DATA_SEED = 1500, 300, 0
PRECISE_BN_BATCHES = 50
FEW_FRAMES = dict(val_start=NUM_TRAIN, num_val=4)


def train(config: str, work_dir: Path, threads: int, max_iters: int, force: bool,
          load_from: Optional[Path] = None) -> float:
    """Train unless finished (``load_from``: initial weights, a finished stage's last
    checkpoint); returns the wall seconds this call spent."""
    ckpt = work_dir / f'iter_{max_iters}.pth'
    if ckpt.is_file() and not force:
        print(f'[zoo] reusing the finished run {ckpt}', flush=True)
        return 0.0
    cmd = [str(Path(sys.executable).with_name('mim')), 'train', 'mmdet3d', str(REPO / config),
           '--work-dir', str(work_dir)]
    if load_from is not None:
        cmd += ['--cfg-options', f'load_from={load_from}']
    if (work_dir / 'last_checkpoint').is_file() and not force:
        cmd.append('--resume')
    env = subprocess_env(REPO / 'data/sim_kitti', threads, REPO)  # numba pinned too
    print('[zoo] ' + ' '.join(cmd), flush=True)
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=REPO, env=env, check=True)
    return time.perf_counter() - t0


def record_path(key: str) -> Path:
    return REPO / 'checkpoints' / 'sim' / f"{MODELS[key]['name']}.json"


def max_iters(key: str) -> int:
    """``train_cfg.max_iters`` of model ``key``'s training config."""
    return Config.fromfile(str(REPO / MODELS[key]['config'])).train_cfg.max_iters


def shipped_records() -> List[Tuple[str, dict]]:
    """``(model key, zoo record)`` of every shipped model, in ``MODELS`` order."""
    return [(k, json.loads(record_path(k).read_text())) for k in MODELS
            if record_path(k).is_file()]


def iters_before(key: str) -> int:
    """Training iterations of the earlier stages ``key`` starts from (0 for a first stage)."""
    parent = MODELS[key].get('init_from')
    return 0 if parent is None else iters_before(parent) + max_iters(parent)


def zoo_table(recs: List[dict]) -> str:
    head = ('| Model | Config | Params (M) | GFLOPs | CPU ms/frame | '
            + ' | '.join(f'{c[:3]} {d[0].upper()}' for c in CLASSES for d in DIFFICULTIES)
            + ' | mAP 3D (mod.) | mAP BEV (mod.) | Checkpoint | sha256 |')
    rows = [head, '|' + '---|' * (head.count('|') - 1)]
    for rec in recs:
        ap = rec['ap']
        rows.append(
            f"| {rec['display']} | [`{Path(rec['config']).name}`]({Path(rec['config']).name}) "
            f"| {rec['params_m']:.2f} | {rec['gflops']:.2f} | {rec['cpu_ms_per_frame']:.0f} | "
            + ' | '.join(f"{ap['3D'][c][d]:.1f}" for c in CLASSES for d in DIFFICULTIES)
            + f" | {rec['map_3d']:.2f} | {rec['map_bev']:.2f} | `{rec['checkpoint']}` "
              f"({rec['checkpoint_bytes'] / 1e6:.1f} MB) | `{rec['sha256']}` |")
    return '\n'.join(rows)


TARGETS = dict(car_3d=50.0, car_bev=75.0, map_3d=40.0)


def box_errors_for(checkpoint: str) -> Optional[Tuple[str, dict]]:
    """The ``tools/box_error_stats.py`` output (``benchmarks/sim_teacher*_box_errors.json``)
    measured on ``checkpoint``, if any: ``(path, record)``."""
    for path in sorted((REPO / 'benchmarks').glob('sim_teacher*_box_errors.json')):
        d = json.loads(path.read_text())
        if d.get('checkpoint') == checkpoint:
            return path.relative_to(REPO).as_posix(), d
    return None


def targets_text(rec: dict, curve: List[dict]) -> str:
    """The distillation teacher against the targets of the sim model zoo, the trend of the
    learning curve ``curve`` (steps counted over all stages) and what limits Car 3D@0.7 (from
    ``tools/box_error_stats.py``'s output on the shipped file, when present)."""
    ap = rec['ap']
    car3d, carbev = ap['3D']['Car']['moderate'], ap['BEV']['Car']['moderate']

    def mark(v, t):
        return f"{v:.1f} ({'met' if v >= t else 'NOT met'}, target >= {t:.0f})"
    text = (f"**Targets** ({rec['display']}, shipped file, moderate): Car 3D@0.7 "
            f"{mark(car3d, TARGETS['car_3d'])}, Car BEV@0.7 {mark(carbev, TARGETS['car_bev'])}, "
            f"3-class 3D mAP {mark(rec['map_3d'], TARGETS['map_3d'])}.")
    if len(curve) > 1:
        a, b = curve[-2], curve[-1]

        def trend(key, iou):
            x, y = (c['ap'][key]['3D']['Car']['moderate'] for c in (a, b))
            word = 'still rising' if y - x > 1.0 else 'flat' if abs(y - x) <= 1.0 else 'falling'
            return f"{word} ({x:.1f} at {a['step']} -> {y:.1f} at {b['step']}, IoU {iou})"
        text += (f" Over the last two checkpoints Car 3D@0.7 is {trend('strict', 0.7)}; Car "
                 f"3D@0.5 is {trend('loose', 0.5)}.")
    found = box_errors_for(rec['checkpoint'])
    if found:
        path, d = found
        s = d['stats'].get('Car')
        if s:
            text += (f" Box errors (`python tools/box_error_stats.py {d['config']} "
                     f"{d['checkpoint']} --frames {d['frames']} --out {path}`, matched "
                     f"cars with score >= {d['score_thr']}): {s['matched']} of {s['gt']} val "
                     f"cars matched; of those, {100 * s['frac_iou3d_ge_0.7']:.0f} % reach 3D IoU "
                     f">= 0.7, and {100 * s['frac_iou3d_ge_0.7_gt_z_h']:.0f} % with the ground-"
                     f"truth z and h swapped in; the error std of z is "
                     f"{s['error_std']['z'] * 100:.0f} cm, of h "
                     f"{s['error_std']['h'] * 100:.0f} cm, "
                     f"of l {s['error_std']['l'] * 100:.0f} cm, and the predicted size follows "
                     f"the ground truth only partly (slopes l {s['slope_pred_vs_gt']['l']:.2f}, "
                     f"w {s['slope_pred_vs_gt']['w']:.2f}, h {s['slope_pred_vs_gt']['h']:.2f}, "
                     f"z {s['slope_pred_vs_gt']['z']:.2f}; 1 = learnt): the vertical extent and "
                     f"the box size, not the BEV position, limit Car 3D@0.7.")
    return text


def fp16_text(rec: dict) -> str:
    """What fp16 storage changes, from the record: per-frame predictions and full-val mAP
    against the float32 precise-BN weights."""
    f = rec['fp16_check']
    fp32 = rec['learning_curve'][-1]
    diff = f.get('frames_differing', [])
    same = ('the same number of boxes with the same labels on every frame' if f['count_equal']
            else f"the same boxes on {f['frames'] - len(diff)} frames; on {len(diff)} the box "
                 'counts differ (' + ', '.join(f"{d['boxes'][0]} vs {d['boxes'][1]}"
                                               for d in diff) + ')')
    return (f"fp16 storage: on {f['frames']} val frames the fp16 file and the float32 weights "
            f"(both after precise BN) predict {same}; largest differences on the frames with "
            f"equal counts {f['max_box_diff']:.1e} (box parameters, m / rad) and "
            f"{f['max_score_diff']:.1e} (scores). Full val moderate mAP, fp16 file vs float32: "
            f"3D {rec['map_3d']:.2f} vs {fp32['map_3d']:.2f}, BEV {rec['map_bev']:.2f} vs "
            f"{fp32['map_bev']:.2f} (the training run's own last validation, with its running "
            f"BN averages: 3D {rec['map_3d_fp32']:.2f}).")


def write_readme() -> None:
    """``configs/sim/README.md`` from every shipped record (:func:`shipped_records`)."""
    shipped = shipped_records()
    recs = [r for _, r in shipped]
    # the teacher the sim distillation configs and tools use (its record is ZOO_RECORD)
    distill = next((r for r in recs if r['record'] == ZOO_RECORD), recs[-1])
    curve, raw, stage_rows = [], {}, []
    for key, rec in shipped:  # one learning curve over the stages, steps counted from scratch
        off = iters_before(key)
        if off and not any(c['step'] == off for c in curve):
            continue  # a later stage whose earlier stage is not shipped: no common axis
        curve += [dict(c, step=c['step'] + off, model=rec['display']) for c in
                  rec['learning_curve']]
        raw.update({c['step'] + off: c['map_3d']
                    for c in rec.get('learning_curve_running_bn', [])})
        stage_rows.append(
            f"- **{rec['display']}**: `{rec['command']}`: training "
            f"{rec['train_wall_s'] / 60:.0f} min ({rec['threads']} torch threads, 2-core machine, "
            f"{rec['train_iters']} iterations of batch {rec['batch_size']}"
            + (f", from the weights after iteration {off}" if off else ', from scratch')
            + f"), shipping (fp16, evaluation, checks) {rec['ship_wall_s']:.0f} s. "
            + fp16_text(rec) + f" `tests/test_sim_zoo.py` re-simulates val frames "
            f"{FEW_FRAMES['val_start']}–{FEW_FRAMES['val_start'] + FEW_FRAMES['num_val'] - 1} "
            f"and checks that the shipped file loads strictly into "
            f"`{Path(rec['deploy_config']).name}` and reproduces the recorded 3D mAP on them "
            f"({rec['few_frame_check']['map_3d']:.2f}). Record with every value: "
            f"`{rec['record']}`.")
    lines = [
        '# Simulated KITTI-format dataset: configs and model zoo', '',
        'CPU-sized PointPillars configs on the dataset of `tools/simulate_kitti.py` '
        f'({NUM_TRAIN} train / {NUM_VAL} val frames, simulator seed {DATA_SEED}; `python '
        'tools/simulate_kitti.py --out data/sim_kitti --num-train 1500 --num-val 300 --seed 0 '
        '--workers 2 --create-data`, 3 min on 2 cores). They exist so that distillation can be '
        'measured on 2 CPU cores without downloads; they are not a substitute for KITTI.', '',
        '## Model zoo', '',
        'AP40 of mmdet3d\'s `KittiMetric` on the sim val split, 3D boxes, official IoU '
        '(Car 0.7, Pedestrian / Cyclist 0.5); mAP = mean of the three classes\' moderate AP. '
        'GFLOPs: mmcv-1.x convention (conv / linear multiply-adds + BN / ReLU elements; '
        'voxelisation and NMS not counted), mean over val frames. CPU ms/frame: median '
        'wall time of `test_step` (voxelisation, network, NMS), 1 torch thread. The checkpoint '
        'is the final weights stored as fp16 (loaded into the float32 model; evaluated as '
        'shipped), loaded by the safe checkpoint loader.', '',
        zoo_table(recs), '',
        f"The sim distillation configs, the quickstart and the KD-gain benchmark use "
        f"**{distill['display']}** (`{distill['checkpoint']}`; `model.teacher_ckpt` of "
        "`configs/_base_/distill/pointdistiller_pointpillars_sim-kitti-3d-3class.py`). "
        "Records measured with another zoo teacher name it in their `teacher` key and pass "
        "its record to `tools/benchmark_kd_gain.py --teacher-record` in their command.", '',
        *stage_rows, '',
        '## Learning curve of the teacher', '',
        'Val AP40 moderate of every kept checkpoint after precise BN (BN statistics '
        f'recomputed over {PRECISE_BN_BATCHES} training batches; `PreciseBNHook`), iterations '
        'counted from scratch over the stages: Car at IoU 0.7 (strict) and 0.5 (loose), '
        'Pedestrian / Cyclist at 0.5 (strict) and 0.25 (loose). The last column is what the '
        'training run\'s own validation logged with the running BN averages: at iteration 750 '
        '(learning rate near its peak) they lag the weights so far that the model predicts '
        'boxes of infinite size (0.0 AP); later they are within a few points of the precise '
        'ones.', '',
        '| iteration | model | Car 3D@0.7 | Car BEV@0.7 | Car 3D@0.5 | Ped 3D@0.5 | Cyc 3D@0.5 | '
        'Ped BEV@0.5 | Cyc BEV@0.5 | mAP 3D | mAP BEV | mAP 3D, running BN |',
        '|---|---|---|---|---|---|---|---|---|---|---|---|']
    for c in curve:
        s, lo = c['ap']['strict'], c['ap']['loose']
        lines.append(
            f"| {c['step']} | {c['model']} | {s['3D']['Car']['moderate']:.1f} | "
            f"{s['BEV']['Car']['moderate']:.1f} | {lo['3D']['Car']['moderate']:.1f} | "
            f"{s['3D']['Pedestrian']['moderate']:.1f} | {s['3D']['Cyclist']['moderate']:.1f} | "
            f"{s['BEV']['Pedestrian']['moderate']:.1f} | {s['BEV']['Cyclist']['moderate']:.1f} | "
            f"{c['map_3d']:.2f} | {c['map_bev']:.2f} | "
            + (f"{raw[c['step']]:.2f} |" if c['step'] in raw else '– |'))
    lines += ['', targets_text(distill, curve), '']
    lines += ['## Configs', '',
              '| config | what |', '|---|---|',
              '| `pointpillars_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py` | the sim PointPillars '
              '(stock widths; range, grid, anchors, data of the sim dataset); the base of all |',
              '| `pointpillars_hv_secfpn_1xb4-3000it-cpu_sim-kitti-3d-3class.py` | the zoo '
              'teacher\'s stage 1 (batch 4, 3000 iterations from scratch, cosine) |',
              '| `pointpillars_hv_secfpn_1xb4-3000it-ft2000it-cpu_sim-kitti-3d-3class.py` | its '
              'stage 2 (batch 4, 2000 more iterations from stage 1\'s weights, a second cosine '
              'cycle at 0.3x the peak learning rate) |',
              '| `pointpillars-4x_…`, `pointpillars-16x_…` | students (widths ÷ 2, ÷ 4), '
              'student-only baselines and deployment configs |',
              '| `pointdistiller_pointpillars-{4x,16x}_…` | PointDistiller from the zoo teacher |',
              '| `pointdistiller-release_pointpillars-16x_…` | the released code\'s choices '
              '(batch-wide top-N/kNN, τ = 0.01, teacher BN in train mode) |',
              '| `pointdistiller-frozen-tadapter_pointpillars-{4x,16x}_…` | teacher-side adapter '
              'frozen |',
              '| `kd_methods/` | the seven earlier KD methods and the LD / RL ablations, 4× and '
              '16× (the 16× twins set `teacher_fast_pfn=True`: same function, faster CPU '
              'iterations) |']
    lines += CENTERPOINT_README
    (REPO / 'configs/sim/README.md').write_text('\n'.join(lines))


#: the CenterPoint rows of the config table and its section (no trained teacher yet; the numbers
#: are those of benchmarks/centerpoint_cost.md)
CENTERPOINT_README = [
    '| `centerpoint_pillar032_…` | a pillar CenterPoint on the sim data: the sim PointPillars '
    'point branch under mmdet3d\'s `CenterPoint` + `CenterHead` (three one-class tasks, '
    'stride 2) |',
    '| `centerpoint-4x_…`, `centerpoint-16x_…` | its students (widths ÷ 2, ÷ 4), student-only '
    'baselines and deployment configs |',
    '| `pointdistiller_centerpoint-{4x,16x}_…` | PointDistiller at the pillar encoder '
    '(`pts_voxel_encoder`) |',
    '| `pointdistiller-bev_centerpoint-16x_…` | PointDistiller at backbone stages 0 and 1 |',
    '| `centerhead-kd_centerpoint-16x_…` | head distillation alone (`CenterHeadDistillLoss`) |',
    '| `pointdistiller-centerhead-kd_centerpoint-16x_…` | both taps, two loss keys |', '',
    '## CenterPoint',
    '',
    'No trained sim CenterPoint teacher ships yet (the cores went to the PointDistiller design',
    "evidence first). To train one with the PointPillars zoo teacher's recipe (batch 4, 3000",
    'iterations, cosine, validation every 750) and distil from it:',
    '',
    '```bash',
    'mim train mmdet3d '
    'configs/sim/centerpoint_pillar032_second_secfpn_1xb2-cpu_sim-kitti-3d-3class.py \\',
    '    --work-dir work_dirs/sim_centerpoint --cfg-options train_dataloader.batch_size=4 \\',
    '    train_cfg.max_iters=3000 train_cfg.val_interval=750 '
    'default_hooks.checkpoint.interval=750 \\',
    '    param_scheduler.1.end=3000 param_scheduler.1.T_max=2950',
    'mim train mmdet3d '
    'configs/sim/pointdistiller-centerhead-kd_centerpoint-16x_pillar032_second_secfpn_'
    '1xb2-cpu_sim-kitti-3d-3class.py \\',
    '    --cfg-options model.teacher_ckpt=work_dirs/sim_centerpoint/iter_3000.pth',
    '```',
    '',
    'Parameters, GFLOPs and the measured cost of one training iteration of every '
    'CenterPoint config,',
    'as ratios to the sim PointPillars 16x student: `benchmarks/centerpoint_cost.md`',
    '(`python tools/benchmark_centerpoint_cost.py --iters 4 --rounds 3`). The teacher '
    'iteration costs',
    "12.45x the reference, the PointPillars teacher's 7.01x: at the zoo recipe the "
    'CenterPoint teacher',
    "takes about 1.8x the PointPillars teacher's 98 min for 3000 iterations of batch 4 "
    '(~3 h on the 2',
    'cores), and a paired 16x comparison (student-only, PointDistiller, head '
    'distillation, both) costs',
    '1.65x, 1.89x, 4.73x and 5.14x a PointPillars 16x student run of the same length.', '',
]


def precise_bn_curve(config: str, work_dir: Path, threads: int) -> list:
    """KittiMetric of every ``iter_*.pth`` of the run after precise BN (the running averages
    of a fast-moving schedule are stale, see PreciseBNHook); cached in
    ``<work_dir>/learning_curve_precise_bn.json``."""
    cache_file = work_dir / 'learning_curve_precise_bn.json'
    cache = json.loads(cache_file.read_text()) if cache_file.is_file() else {}
    ckpts = sorted(work_dir.glob('iter_*.pth'), key=lambda p: int(p.stem.split('_')[1])
                   if p.stem.split('_')[1].isdigit() else -1)
    for ckpt in ckpts:
        step = ckpt.stem.split('_')[1]
        if not step.isdigit() or step in cache:
            continue
        tmp = work_dir / f'precise_bn_{step}.pth'
        precise_bn_checkpoint(config, str(ckpt), str(tmp), PRECISE_BN_BATCHES,
                              data_root='data/sim_kitti', seed=DATA_SEED)
        metrics = evaluate_checkpoint(config, str(tmp), 'data/sim_kitti',
                                      str(work_dir / f'test_precise_bn_{step}'), threads)
        cache[step] = curve_point(metrics, int(step))
        cache_file.write_text(json.dumps(cache, indent=1))
        tmp.unlink()
        print(f"[zoo] iteration {step} with precise BN: 3D mAP {cache[step]['map_3d']:.2f}, "
              f"BEV mAP {cache[step]['map_bev']:.2f}", flush=True)
    return [cache[k] for k in sorted(cache, key=int)]


def ship(key: str, work_dir: Path, threads: int, train_wall_s: float, command: str) -> dict:

    m = MODELS[key]
    t0 = time.perf_counter()
    cfg = Config.fromfile(str(REPO / m['config']))
    iters = cfg.train_cfg.max_iters
    src = work_dir / f'iter_{iters}.pth'
    if not src.is_file():
        raise SystemExit(f'{src} does not exist: the training run is not finished')
    # learning curve with precise BN statistics at every kept checkpoint (cached per step)
    curve = precise_bn_curve(m['deploy_config'], work_dir, threads)
    precise = work_dir / f'iter_{iters}_precise_bn.pth'
    pbn = precise_bn_checkpoint(m['deploy_config'], str(src), str(precise), PRECISE_BN_BATCHES,
                                data_root='data/sim_kitti', seed=DATA_SEED)
    print(f'[zoo] precise BN of the final weights: {pbn}', flush=True)
    dst = REPO / 'checkpoints' / 'sim' / f"{m['name']}_fp16.pth"
    info = save_fp16_checkpoint(precise, dst, meta=dict(config=m['config'], iters=iters,
                                                        precise_bn_batches=pbn['batches']))
    print(f'[zoo] wrote {dst} ({info})', flush=True)
    with sim_data_root(REPO / 'data/sim_kitti'):  # the configs parsed below read the data
        metrics = evaluate_checkpoint(m['deploy_config'], str(dst), 'data/sim_kitti',
                                      str(work_dir / 'test_fp16'), threads)
        ap = extract_ap40(metrics)
        ap32 = extract_ap40(final_val_metrics(str(work_dir), step=iters))
        val_pts = sorted((REPO / 'data/sim_kitti/training/velodyne_reduced').glob('*.bin'))
        val_ids = [ln.strip() for ln in (REPO / 'data/sim_kitti/ImageSets/val.txt').read_text()
                   .split()][:20]
        files = [str(REPO / 'data/sim_kitti/training/velodyne_reduced' / f'{i}.bin')
                 for i in val_ids]
        assert val_pts, 'no reduced point clouds in data/sim_kitti'
        fp16 = prediction_diff(m['deploy_config'], str(precise), str(dst), files)
        print(f'[zoo] fp16 vs float32 on {len(files)} val frames: {fp16}', flush=True)
        torch.set_num_threads(1)
        model, dcfg = load_detector(str(REPO / m['deploy_config']), str(dst))
        batches = val_batches(dcfg, 10)
        flops = count_flops(model, batches)
        lat = measure_latency(model, batches, warmup=2)
        few = few_frame_check(m['deploy_config'], str(dst), **FEW_FRAMES, seed=DATA_SEED,
                              threads=threads)
    print(f'[zoo] few-frame check: {few}', flush=True)
    record = record_path(key)
    rec = dict(
        display=m['display'], config=m['config'], deploy_config=m['deploy_config'],
        checkpoint=str(dst.relative_to(REPO)), sha256=sha256_file(dst),
        checkpoint_bytes=dst.stat().st_size, storage='fp16',
        map_3d=moderate_map(ap, '3D'), map_bev=moderate_map(ap, 'BEV'), ap=ap,
        map_3d_fp32=moderate_map(ap32, '3D'), map_bev_fp32=moderate_map(ap32, 'BEV'),
        ap_fp32=ap32, val_frames=NUM_VAL, train_frames=NUM_TRAIN, data_seed=DATA_SEED,
        params_m=count_params(model) / 1e6, gflops=flops['gflops'],
        cpu_ms_per_frame=lat['median_ms'], fp16_check=fp16, few_frame_check=few,
        learning_curve=curve, learning_curve_running_bn=learning_curve(str(work_dir)),
        precise_bn=dict(pbn, batches_per_update=PRECISE_BN_BATCHES), train_iters=iters,
        batch_size=cfg.train_dataloader.batch_size, threads=threads,
        train_wall_s=train_wall_s, ship_wall_s=time.perf_counter() - t0, command=command,
        record=str(record.relative_to(REPO)), init_from=m.get('init_from'))
    record.write_text(json.dumps(rec, indent=1))
    write_readme()
    print(f'[zoo] wrote {record} and configs/sim/README.md\n' + zoo_table([rec]), flush=True)
    return rec


def run(args) -> int:
    """``tools/train_sim_zoo.py``'s work for its parsed arguments (``model``, ``work_dir``,
    ``threads``, ``force``, ``ship_only``, ``readme_only``, ``curve_only``, ``train_wall_s``)."""
    m = MODELS[args.model]
    work = Path(args.work_dir or f'work_dirs/sim_zoo/{args.model}').resolve()
    if args.readme_only:
        record = record_path(args.model)
        rec = json.loads(record.read_text())
        if not rec['train_wall_s'] == rec['train_wall_s']:  # nan: take it from the logs
            rec['train_wall_s'] = logged_wall_time(work)
            record.write_text(json.dumps(rec, indent=1))
        write_readme()
        print(f'[zoo] rewrote configs/sim/README.md from {record}')
        return 0
    prog = Progress(dict(data=200.0), label='zoo')
    prog.start('data', 'dataset data/sim_kitti')
    ensure_dataset((REPO / 'data/sim_kitti').resolve(),
                   Budget(num_train=NUM_TRAIN, num_val=NUM_VAL, teacher_iters=0,
                          student_iters=0), DATA_SEED, False, prog, workers=2)
    iters = max_iters(args.model)
    if args.curve_only:
        for c in precise_bn_curve(m['deploy_config'], work, args.threads):
            print(c['step'], f"3D mAP {c['map_3d']:.2f}, BEV mAP {c['map_bev']:.2f}")
        return 0
    load_from = None
    if 'init_from' in m:  # a later stage: the earlier one's final weights (trained if missing)
        parent = MODELS[m['init_from']]
        parent_work = (REPO / 'work_dirs/sim_zoo' / m['init_from']).resolve()
        parent_iters = max_iters(m['init_from'])
        load_from = parent_work / f'iter_{parent_iters}.pth'
        if not args.ship_only and not load_from.is_file():
            print(f"[zoo] {args.model} starts from {m['init_from']}, which is not trained yet",
                  flush=True)
            train(parent['config'], parent_work, args.threads, parent_iters, False)
    wall = 0.0 if args.ship_only else train(m['config'], work, args.threads, iters, args.force,
                                            load_from)
    if args.train_wall_s is not None:
        wall = args.train_wall_s
    elif wall == 0.0:  # reused: the wall time between the run's first and last log lines
        wall = logged_wall_time(work)
    ship(args.model, work, args.threads, wall, f'python tools/train_sim_zoo.py {args.model}')
    return 0


def logged_wall_time(work_dir: Path) -> float:
    """Seconds between the first and the last line of the run's mmengine log files
    (``<work_dir>/<timestamp>/<timestamp>.log``, lines start ``YYYY/MM/DD HH:MM:SS``)."""
    stamp = re.compile(r'^(\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2})')
    stamps = []
    for log in sorted(work_dir.glob('*/*.log')):
        for line in log.read_text(errors='replace').splitlines():
            m = stamp.match(line)
            if m:
                stamps.append(datetime.datetime.strptime(m.group(1), '%Y/%m/%d %H:%M:%S'))
    return (max(stamps) - min(stamps)).total_seconds() if stamps else float('nan')
