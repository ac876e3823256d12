# PointDistiller settings of the simulated-dataset PointPillars students (4x, 16x): the KITTI
# PointPillars tap and loss (`pointdistiller_pointpillars_tap.py`) with N and K scaled to the
# sim grid, and the sim model-zoo teacher (configs/sim/README.md). A sim distillation config
# lists this file after its sim student config (which brings `custom_imports` and
# `default_scope`) and assembles `model` from `pd_distiller`, the student and `pd_loss`.
_base_ = ['./pointdistiller_pointpillars_tap.py']

# The shipped sim teacher (fp16 storage, loaded as float32), trained by
# `python tools/train_sim_zoo.py teacher`; another one: --cfg-options model.teacher_ckpt=...
teacher_ckpt = 'checkpoints/sim/pointpillars_hv_secfpn_1xb4-3000it_sim-kitti-3d-3class_fp16.pth'
teacher_cfg = '{{ fileDirname }}/../../sim/pointpillars_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py'
pd_distiller = dict(
    type='PointDistillerDetector',
    teacher=dict(cfg_path=teacher_cfg),
    teacher_ckpt=teacher_ckpt,
    teacher_norm_eval=True,  # teacher BN keeps its running statistics
    distill=True)
pd_loss = dict(
    # N per sample: KITTI 1000 of ~12k pillars of 0.16 m; sim pillars are 0.32 m (4x the
    # area) and a training sample has ~1500 of them: 1000 / 4 -> 256, the same ground area.
    num_queries=256,
    # K (centre included): KITTI 128 of ~12k candidates; here 32 of ~1500 (~2 %).
    num_neighbors=32)
# (the sim student configs already log the adapters with DistillStatsHook)
