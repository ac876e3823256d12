"""The one-command quickstart: simulate -> convert -> the shipped teacher and converged 16x
students tested with KittiMetric (params, GFLOPs, CPU latency) while a short live PointDistiller
run trains as a demo -> pictures -> the paper-layout table beside the committed paired-seed
record.

Every training stage is a real ``mim train mmdet3d <config>`` subprocess (the path a user
takes), with the budget given as ``--cfg-options``; evaluation is ``Runner.test`` (the path of
``mim test``). Each stage leaves a marker file with the options it ran with; a re-run skips
finished stages whose options (and upstream stages) did not change, resumes an interrupted
training from its ``last_checkpoint``, and ``force`` redoes everything but the dataset.

The configs and the shipped teacher are read from the repository root: the ``repo`` argument,
else ``$PD_REPO_ROOT``, else the checkout the package sits in
(:func:`~mmdet3d_pointdistiller.utils.paths.repo_root`).

The stages live in :mod:`.settings` (configs, budgets), :mod:`.progress`, :mod:`.dataset`,
:mod:`.jobs` (training subprocesses), :mod:`.evaluation` (metrics, complexity, pictures) and
:mod:`.summary` (report). The CLI is ``tools/quickstart.py``; :func:`run_quickstart` is the
importable entry point.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Optional, Union

from mmdet3d_pointdistiller.utils.json_io import read_json, write_json
from mmdet3d_pointdistiller.utils.paths import repo_root

from .dataset import ensure_dataset
from .evaluation import evaluate_models, pictures, shipped_models, shipped_teacher
from .jobs import TrainJob, run_train_jobs, subprocess_env
from .progress import Progress, fmt_seconds
from .settings import (BUDGETS, CONFIGS, TEACHER_FT_CONFIG, TEACHER_FT_ITERS,
                       TEACHER_TRAIN_CONFIG, ZOO_TEACHER, Budget,
                       estimate_seconds)
from .summary import loadavg, machine_description, write_summary

__all__ = ['run_quickstart']


def run_quickstart(budget: str = 'full', work_dir: str = 'work_dirs/quickstart',
                   data_root: str = 'data/sim_kitti', seed: int = 0, data_seed: int = 0,
                   threads: int = 1, jobs: int = 2, force: bool = False,
                   force_data: bool = False,
                   teacher_iters: Optional[int] = None, student_iters: Optional[int] = None,
                   num_train: Optional[int] = None, num_val: Optional[int] = None,
                   score_thr: float = 0.3, command: str = '', stream=None,
                   train_teacher: bool = False,
                   repo: Optional[Union[str, Path]] = None) -> dict:
    """Run the quickstart; returns the ``summary.json`` content.

    ``repo``: the repository root with ``configs/`` and the shipped teacher (default:
    ``$PD_REPO_ROOT``, else the checkout that holds the package); a root without ``configs/``
    raises ``FileNotFoundError`` before anything runs.
    """
    repo = repo_root(repo)
    if budget not in BUDGETS:
        raise ValueError(f'budget must be one of {sorted(BUDGETS)}, got {budget!r}')
    b = Budget(**asdict(BUDGETS[budget]))
    for k, v in dict(teacher_iters=teacher_iters, student_iters=student_iters,
                     num_train=num_train, num_val=num_val).items():
        if v is not None:
            if v < 1:
                raise ValueError(f'--{k.replace("_", "-")} must be >= 1, got {v}')
            setattr(b, k, v)
    if threads < 1:
        raise ValueError(f'--threads must be >= 1, got {threads}')
    work_root = Path(work_dir).resolve()
    root = Path(data_root).resolve()
    work_root.mkdir(parents=True, exist_ok=True)
    if jobs < 1:
        raise ValueError(f'--jobs must be >= 1, got {jobs}')
    # --train-teacher on the full budget: the zoo recipe, stage 1 then stage 2
    zoo_schedule = train_teacher and budget == 'full' and teacher_iters is None
    progress = Progress(estimate_seconds(b, parallel=jobs > 1, train_teacher=train_teacher,
                                         teacher_ft_iters=TEACHER_FT_ITERS if zoo_schedule
                                         else 0), stream=stream)
    progress.print(f'quickstart: budget {budget} {asdict(b)}; work dir {work_root}; data '
                   f'{root}; estimated {fmt_seconds(sum(progress.estimates.values()))} '
                   f'(rescaled as stages finish)')
    env = subprocess_env(root, threads, repo)

    progress.start('data', f'simulate + convert the dataset ({b.num_train} + {b.num_val} '
                           f'frames)')
    changed = ensure_dataset(root, b, data_seed, force_data, progress, workers=max(1, jobs))

    if train_teacher:
        stages = [('teacher', TEACHER_TRAIN_CONFIG, b.teacher_iters)]
        if zoo_schedule:
            stages.append(('teacher_ft', TEACHER_FT_CONFIG, TEACHER_FT_ITERS))
        progress.start('teacher', 'train the teacher: ' + ', then '.join(
            f'mim train mmdet3d {c} ({n} iterations)' for _, c, n in stages)
            + f' ({max(threads, jobs)} threads)')
        teacher_env = subprocess_env(root, max(threads, jobs), repo)
        teacher_jobs = []
        for k, (name, config, iters) in enumerate(stages):
            # stage 2 starts from stage 1's final weights (its config's load_from, made absolute)
            # with seed + 1 (the zoo's stages: seeds 0 and 1)
            extra = [f'load_from={teacher_jobs[-1].ckpt}'] if teacher_jobs else []
            teacher_jobs.append(TrainJob(
                name, config, work_root / name, iters, b.evals, seed + k, teacher_env,
                force=force or changed or any(j.ran for j in teacher_jobs), batch_size=4,
                budget=not zoo_schedule, extra_options=extra, repo=repo))
            run_train_jobs([teacher_jobs[-1]], progress, parallel=False)
        last = teacher_jobs[-1]
        teacher_ckpt, teacher_ran = last.ckpt, any(j.ran for j in teacher_jobs)
        teacher_run = dict(work_dir=last.work_dir, seconds=sum(j.seconds or 0.0
                                                               for j in teacher_jobs))
    else:
        progress.start('teacher', f'the shipped sim model-zoo teacher {ZOO_TEACHER}')
        teacher_ckpt, teacher_ran, teacher_run = shipped_teacher(repo), False, None
        progress.finish(skipped=True, note=str(teacher_ckpt))

    models = shipped_models(teacher_ckpt, repo)
    progress.start('models', f'live PointDistiller demo ({b.student_iters} iterations, one core) '
                             f"while {', '.join(models)} are tested on the val split")
    # the demo is not validated: the shipped converged students are the result
    demo_job = TrainJob('pointdistiller', CONFIGS['pointdistiller'], work_root / 'pointdistiller',
                        b.student_iters, 1, seed, env, force=force or changed or teacher_ran,
                        extra_options=[f'model.teacher_ckpt={teacher_ckpt}',
                                       f'train_cfg.val_begin={b.student_iters + 1}'],
                        batch_size=b.batch_size, repo=repo)
    eval_file = work_root / 'evaluation.json'
    key = dict(budget=asdict(b), models={n: str(m['ckpt']) for n, m in models.items()})
    cached = read_json(eval_file)
    reuse_eval = cached is not None and not (force or changed or teacher_ran) and \
        cached.get('key') == key
    results = cached['results'] if reuse_eval else None

    def report(_job=None):
        progress.update(demo_job.frac if results is not None else demo_job.frac / 2,
                        f'pointdistiller: {demo_job.status}'
                        + ('' if results is not None else '; testing the shipped models'),
                        stage_eta=demo_job.eta)

    if demo_job.ran:
        progress.print('  pointdistiller (demo): ' + ' '.join(
            [Path(demo_job.command()[0]).name] + demo_job.command()[1:])
            + f'  (log {demo_job.log_path})')
        if jobs > 1:  # the demo on one core while the evaluation uses the other
            demo_job.start(report)
    if results is None:
        results = evaluate_models(models, work_root, root, b, progress, threads, repo=repo)
        write_json(eval_file, dict(key=key, results=results))
    if demo_job.ran:
        if demo_job.proc is None:
            demo_job.start(report)
        demo_job.wait()
        report()
    progress.finish(skipped=not demo_job.ran and reuse_eval,
                    note=f'{eval_file}; demo {demo_job.status}')
    demo = dict(work_dir=demo_job.work_dir, ckpt=demo_job.ckpt, iters=demo_job.iters,
                ran=demo_job.ran, seconds=demo_job.seconds)
    any_trained = changed or teacher_ran or demo_job.ran

    progress.start('pictures', f'BEV pictures of {b.vis_frames} val frame(s) per model and '
                               f'the demo\'s training curves')
    pics_file = work_root / 'pictures.json'
    cached = read_json(pics_file)
    if cached is not None and not (force or any_trained) and cached.get('key') == key \
            and all(Path(p).is_file() for ps in cached['files'].values() for p in ps):
        files = cached['files']
        progress.finish(skipped=True, note=str(pics_file))
    else:
        files = pictures(models, demo, work_root, root, b, progress, threads, score_thr,
                         repo=repo, teacher_run=teacher_run)
        write_json(pics_file, dict(key=key, files=files))
        progress.finish(note=f"{sum(len(v) for v in files.values())} PNGs in {work_root}")

    progress.start('summary', 'summary table')
    info = dict(budget=budget, **asdict(b), seed=seed, data_seed=data_seed, threads=threads,
                jobs=jobs, train_teacher=train_teacher, teacher_checkpoint=str(teacher_ckpt),
                stage_seconds=dict(progress.times), skipped=list(progress.skipped),
                wall_seconds=progress.total(), machine=machine_description(),
                loadavg=loadavg(), command=command or 'python tools/quickstart.py',
                data_root=str(root), work_dir=str(work_root), pictures=files,
                configs=CONFIGS, demo=dict(demo, work_dir=str(demo['work_dir']),
                                           ckpt=str(demo['ckpt'])))
    md = write_summary(work_root, results, info, repo)
    progress.finish(note=f'{work_root / "summary.md"}')
    info['wall_seconds'] = progress.total()
    info['stage_seconds'] = dict(progress.times)
    md = write_summary(work_root, results, info, repo)
    progress.print('\n' + md)
    return read_json(work_root / 'summary.json')
