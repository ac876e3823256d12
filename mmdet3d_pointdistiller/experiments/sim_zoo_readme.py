"""``configs/sim/README.md``, the sim model zoo's page, rendered from the shipped records
(``checkpoints/sim/*.json``): the zoo table (teacher stages and converged students), each
stage's and student's provenance and checks, the teacher's learning curve over its stages, its
targets, and the config table. ``tools/train_sim_zoo.py`` rewrites it after shipping;
``tests/test_sim_zoo_students.py`` checks that the committed page is the rendering of the
committed records.
"""
from __future__ import annotations

import json
import statistics
import textwrap
from pathlib import Path
from typing import List, Optional, Tuple

from ..quickstart.metrics import CLASSES, DIFFICULTIES
from ..quickstart.settings import ZOO_RECORD
from ..utils.readme_blocks import replace_block
from .kd_gain_readme import ARM_NAMES, REPORTING_RATIOS, ratio_label
from .sim_zoo import (DATA_SEED, FEW_FRAMES, NUM_TRAIN, NUM_VAL, PRECISE_BN_BATCHES, REPO,
                      iters_before, record_path, shipped_records)

__all__ = ['TARGETS', 'zoo_table', 'box_errors_for', 'targets_text', 'fp16_text',
           'student_records', 'students_text', 'exchanged_text', 'readme_text',
           'ROOT_BEGIN', 'ROOT_END', 'root_readme_block', 'write_readme']


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


def exchanged_text(f: dict) -> str:
    """The pairs of an fp16 check whose boxes are beyond its gate (``unmatched``), if any."""
    pairs = f.get('unmatched') or []
    if not pairs:
        return ''
    return (f"; {len(pairs)} box(es) near the score threshold exchanged for another of the "
            f"same class more than {f['gate_m']} m away (scores "
            + ', '.join(f"{u['scores'][0]:.3f} / {u['scores'][1]:.3f}" for u in pairs[:4])
            + (' ...' if len(pairs) > 4 else '') + ')')


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
            f"{f['max_score_diff']:.1e} (scores){exchanged_text(f)}. Full val moderate mAP, "
            "fp16 file vs float32: "
            f"3D {rec['map_3d']:.2f} vs {fp32['map_3d']:.2f}, BEV {rec['map_bev']:.2f} vs "
            f"{fp32['map_bev']:.2f} (the training run's own last validation, with its running "
            f"BN averages: 3D {rec['map_3d_fp32']:.2f}).")


def student_records() -> List[dict]:
    """Records of the shipped zoo students (``experiments/sim_zoo_students.py``: the records
    with a ``source`` run), 16x before 4x, the student alone before the distilled one."""
    recs = [json.loads(p.read_text()) for p in sorted((REPO / 'checkpoints/sim').glob('*.json'))]
    return sorted((r for r in recs if 'source' in r), key=lambda r: (
        REPORTING_RATIOS.index(r['source']['ratio']), r['source']['method'] != 'student'))


def students_text(students: List[dict]) -> List[str]:
    """The README section of the shipped students: where each comes from and its checks."""
    if not students:
        return []
    lines = ['## Converged students', '',
             'Not trained by the zoo tool: each is seed 1 of its method\'s run in the paired-seed '
             'reporting record, so the shipped file is the run the record reports; the zoo tool '
             'takes the student part of a distillation checkpoint (a plain mmdet3d checkpoint of '
             'the deployment config), stores it as fp16 and measures it as above. Its leaf config '
             'resolves to the run\'s config and `--cfg-options` (checked when shipping).', '']
    for rec in students:
        src, f = rec['source'], rec['fp16_check']
        lines.append(
            f"- **{rec['display']}**: `{src['record']}`, {src['ratio']} `{src['method']}`, seed "
            f"{src['seed']} ({rec['train_iters']} iterations of batch {rec['batch_size']}, "
            f"{rec['train_wall_s'] / 60:.0f} min on {rec['threads']} thread(s)); train with "
            f"`mim train mmdet3d {rec['config']} --cfg-options randomness.seed={src['seed']}`, "
            f"ship with `{rec['command']}`. 3D mAP {rec['map_3d']:.2f} as shipped (fp16) vs "
            f"{rec['map_3d_fp32']:.2f} in the run's last validation (float32); BEV "
            f"{rec['map_bev']:.2f} vs {rec['map_bev_fp32']:.2f}; on {f['frames']} val frames "
            + ('the same box counts' if f['count_equal'] else 'box counts differ on some frames')
            + f", largest difference of a matched box {f['max_box_diff']:.1e}"
            + exchanged_text(f) + '. Loads strictly into '
            f"`{Path(rec['deploy_config']).name}`; few-frame check 3D mAP "
            f"{rec['few_frame_check']['map_3d']:.2f} (`tests/test_sim_zoo.py`). Record: "
            f"`{rec['record']}`.")
    return lines + ['']


def readme_text() -> str:
    """``configs/sim/README.md`` from every shipped record (:func:`shipped_records`,
    :func:`student_records`)."""
    shipped = shipped_records()
    recs = [r for _, r in shipped]
    students = student_records()
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
        zoo_table(recs + students), '',
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
    lines += students_text(students)
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
              '| `pointdistiller_pointpillars-{4x,16x}_…` | PointDistiller from the zoo teacher: '
              'the default design (c), a parameter-free teacher side '
              '(`benchmarks/kd_design_sim_tuning.md`) |',
              '| `pointdistiller-paper_pointpillars-{4x,16x}_…` | the paper\'s design (both '
              'adapters trainable conv-BN-ReLU), the base of the design variants and the KD-method '
              'comparisons; the records written before design (c) became the default name this '
              'design `pointdistiller_…` |',
              '| `pointdistiller-release_pointpillars-16x_…` | the released code\'s choices '
              '(batch-wide top-N/kNN, τ = 0.01, teacher BN in train mode) |',
              '| `pointdistiller-frozen-tadapter_pointpillars-{4x,16x}_…` | teacher-side adapter '
              'frozen |',
              '| `kd_methods/` | the seven earlier KD methods and the LD / RL ablations, 4× and '
              '16× (the 16× twins set `teacher_fast_pfn=True`: same function, faster CPU '
              'iterations) |']
    lines += CENTERPOINT_README + centerpoint_cost_text()
    return '\n'.join(lines)


#: markers of the shipped-checkpoint table in the repository's README
ROOT_BEGIN = ('<!-- sim model zoo: generated from checkpoints/sim/*.json by '
              '`python tools/train_sim_zoo.py teacher-ft --readme-only`; '
              'edit '
              'mmdet3d_pointdistiller/experiments/sim_zoo_readme.py, not this table -->')
ROOT_END = '<!-- end of the generated sim model zoo table -->'


def _short(path: str) -> str:
    """A zoo file name with the parts every entry shares elided (``..._1xb4-6000it_...``)."""
    return Path(path).name.replace('hv_secfpn', '...').replace('sim-kitti-3d-3class', '...')


def root_readme_block() -> str:
    """The README's table of shipped sim checkpoints (markers included): the distillation
    teacher first, the other teacher stages, then the students by ratio (alone, then
    distilled), each row from its zoo record; the sentence below it says which ratios' students
    are not shipped yet."""
    # lazy: sim_zoo_students imports this module (write_readme after shipping)
    from .sim_zoo_students import STUDENTS
    teachers = shipped_records()  # (key, record) of every teacher stage
    starts = sorted(iters_before(k) for k, _ in teachers)
    labels = {r['record']: f'PointPillars teacher, stage {starts.index(iters_before(k)) + 1}'
              + (' (the distillation teacher)' if r['record'] == ZOO_RECORD else '')
              for k, r in teachers}
    teachers.sort(key=lambda kr: kr[1]['record'] != ZOO_RECORD)
    students = student_records()
    rows = ['| model | config | checkpoint | 3D mAP | BEV mAP | Car 3D@0.7 | params |',
            '|---|---|---|---|---|---|---|']
    for rec in [r for _, r in teachers] + students:
        src = rec.get('source')
        if src is None:
            label = labels[rec['record']]
        else:
            x, arm = ratio_label(src['ratio']), src['method']
            label = (f'PointPillars {x} student alone' if arm == 'student' else
                     f'PointPillars {x} + PointDistiller {ARM_NAMES.get(arm, arm)}')
            label += f" (reporting seed {src['seed']})"
        rows.append(f"| {label} | `{rec['config']}` | [`{_short(rec['checkpoint'])}`]"
                    f"({rec['checkpoint']}) | {rec['map_3d']:.2f} | {rec['map_bev']:.2f} | "
                    f"{rec['ap']['3D']['Car']['moderate']:.2f} | {rec['params_m']:.2f} M |")
    shipped = {(r['source']['ratio'], r['source']['method']) for r in students}
    per_ratio = {r['source']['ratio']: r for r in students}  # one of each ratio's records
    text = 'Values from the zoo records `checkpoints/sim/*.json`.'
    if per_ratio:
        first = next(iter(per_ratio.values()))
        seeds = sorted({r['source']['seed'] for r in students})
        text += (' The ' + ' and '.join(
            f"{ratio_label(x)} students ({per_ratio[x]['gflops']:.2f} GFLOPs)"
            for x in REPORTING_RATIOS if x in per_ratio)
                 + f" are seed {', '.join(map(str, seeds))} of the reporting runs "
                 f"({first['train_iters']} iterations of batch {first['batch_size']}; one seed "
                 'each: their difference is not the measured effect, the paired-seed record '
                 'is).')
    waiting = [ratio_label(x) for x in REPORTING_RATIOS
               if any((e['ratio'], e['method']) not in shipped
                      for e in STUDENTS.values() if e['ratio'] == x)]
    if waiting:
        text += (f" The converged {' and '.join(waiting)} students join when their reporting "
                 'runs are done.')
    return '\n'.join([ROOT_BEGIN, *rows, '', textwrap.fill(text, 96), ROOT_END])


def write_readme() -> None:
    """Write :func:`readme_text` to ``configs/sim/README.md`` and :func:`root_readme_block`
    into the repository's README."""
    (REPO / 'configs/sim/README.md').write_text(readme_text())
    replace_block(REPO / 'README.md', ROOT_BEGIN, ROOT_END, root_readme_block(),
                  'sim model zoo table')


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
]


#: (row name in benchmarks/centerpoint_cost.json, what the sentence calls it)
_COST_ROWS = [
    ('CenterPoint 16x student', 'student-only'),
    ('CenterPoint 16x PointDistiller (PFN tap, design (c))', 'PointDistiller'),
    ('CenterPoint 16x CenterHead KD', 'head distillation'),
    ('CenterPoint 16x PointDistiller (c) + CenterHead KD', 'both'),
]


def centerpoint_cost_text(record: str = 'benchmarks/centerpoint_cost.json') -> List[str]:
    """The README paragraph on the CenterPoint family's cost, its ratios recomputed (medians
    of ``times_s``) from ``record`` and the PointPillars teacher's training time from its
    stage-1 zoo record (:func:`~.sim_zoo.record_path`)."""
    rec = json.loads((REPO / record).read_text())
    stage1_path = record_path('teacher')
    stage1 = json.loads(stage1_path.read_text())
    rows = {r['name']: statistics.median(r['times_s']) for r in rec['rows']}
    ref = rows[rec['reference']]

    def x(name: str) -> str:
        return f'{rows[name] / ref:.2f}x'

    pairs = ', '.join(x(name) for name, _ in _COST_ROWS[:-1]) + ' and ' + x(_COST_ROWS[-1][0])
    text = (
        'Parameters, GFLOPs and the measured cost of one training iteration of every CenterPoint '
        'config, as ratios to the sim PointPillars 16x student: '
        f'`{record.replace(".json", ".md")}` (`{rec["command"]}`). The teacher iteration costs '
        f"{x('CenterPoint teacher')} the reference, the PointPillars teacher's "
        f"{x('PointPillars teacher')}: at the zoo recipe the CenterPoint teacher takes about "
        f"{rows['CenterPoint teacher'] / rows['PointPillars teacher']:.1f}x the PointPillars "
        f"teacher's {stage1['train_wall_s'] / 60:.0f} min for {stage1['train_iters']} "
        f"iterations of batch {stage1['batch_size']} (`{stage1_path.relative_to(REPO)}`), and a "
        f"paired 16x comparison ({', '.join(w for _, w in _COST_ROWS)}) costs {pairs} a "
        'PointPillars 16x student run of the same length.')
    return textwrap.wrap(text, 99, break_on_hyphens=False, break_long_words=False) + ['']
