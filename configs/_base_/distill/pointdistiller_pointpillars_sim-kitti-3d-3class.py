# PointDistiller settings of the simulated-dataset PointPillars students (4x, 16x): the KITTI
# PointPillars tap and loss with N and K scaled to the sim grid, and the sim zoo teacher. Listed
# after a sim student config (which brings `custom_imports` and `default_scope`). Why:
# configs/pointdistiller/README.md, "Simulated dataset (configs/sim)".
_base_ = ['./pointdistiller_pointpillars_tap.py']

# The shipped sim teacher (fp16 storage, loaded as float32), trained by
# `python tools/train_sim_zoo.py teacher-ft` (3000 iterations, then 2000 more); another one:
# --cfg-options model.teacher_ckpt=... (stage 1 alone: ..._1xb4-3000it_sim-..._fp16.pth)
teacher_ckpt = \
    'checkpoints/sim/pointpillars_hv_secfpn_1xb4-3000it-ft2000it_sim-kitti-3d-3class_fp16.pth'
teacher_cfg = '{{ fileDirname }}/../../sim/pointpillars_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py'
pd_distiller = dict(
    type='PointDistillerDetector',
    teacher=dict(cfg_path=teacher_cfg),
    teacher_ckpt=teacher_ckpt,
    teacher_norm_eval=True,  # teacher BN keeps its running statistics
    # the frozen teacher's last PFNLayer with its BN folded: the same function up to float
    # rounding, 1.27x / 1.44x faster KD iterations (benchmarks/sim_iteration_profile.md)
    teacher_fast_pfn=True,
    distill=True)
pd_loss = dict(
    num_queries=256,  # N per sample: KITTI's 1000 / 4 (pillars of 4x the area)
    num_neighbors=32)  # K, centre included: 32 of ~1500 pillars per sample
# (the sim student configs already log the adapters with DistillStatsHook)

# BEV-level taps (the design comparison of benchmarks/kd_design_sim_tuning): the first two
# backbone stages (64 x 64 and 32 x 32 cells; teacher widths 64 and 128), selected and
# reweighted by the teacher's channel-max as the SECOND configs do; N and K as the PFN tap.
pd_bev_loss = dict(
    type='PointDistillerLoss',
    num_queries=256,
    num_neighbors=32,
    feature_layout='bev',
    score='teacher_max',
    temperature=1.0,
    reweight=True,
    local=True,
    pool='none',
    loss_weight=2.0,
    knn_chunk_size=256)
