# The PointDistiller tap and loss of the PointPillars students (KITTI values), shared by the KITTI
# and the simulated-dataset PointPillars distillation bases; it defines nothing else, so a leaf
# config can list it next to a student base. Why each value: configs/pointdistiller/README.md,
# "PointPillars KITTI".
pd_tap = dict(name='pfn', module='voxel_encoder', output=None)  # PillarFeatureNet rows
pd_loss = dict(
    type='PointDistillerLoss',
    teacher_channels=64,
    student_channels=32,
    adapter_channels=32,  # C' = student width (code)
    num_queries=1000,  # N per sample (code: 6000 per batch of 6)
    num_neighbors=128,  # K, centre included (code)
    feature_layout='voxel',
    score='num_points',  # points per pillar (paper and code)
    temperature=8.0,  # code: 0.01 (hard arg-max); README "PointPillars KITTI"
    reweight=True,
    local=True,
    pool='none',  # compare all K edge features (code)
    loss_weight=2.0,  # the code's 2 * mean
    knn_chunk_size=1024)
