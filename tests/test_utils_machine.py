"""cpu_model_name: the CPU model of /proc/cpuinfo, with the platform fallback."""
import platform

from mmdet3d_pointdistiller.utils import cpu_model_name


def test_cpu_model_name_reads_the_first_model_name(tmp_path):
    info = tmp_path / 'cpuinfo'
    info.write_text('processor\t: 0\nmodel name\t: AMD EPYC 9B14\nflags\t\t: fpu\n'
                    'processor\t: 1\nmodel name\t: Other CPU\n')
    assert cpu_model_name(info) == 'AMD EPYC 9B14'


def test_cpu_model_name_falls_back_to_the_platform(tmp_path, monkeypatch):
    monkeypatch.setattr(platform, 'processor', lambda: 'x86_64')
    no_name = tmp_path / 'cpuinfo'
    no_name.write_text('processor\t: 0\nflags\t\t: fpu\n')
    assert cpu_model_name(no_name) == 'x86_64'
    assert cpu_model_name(tmp_path / 'missing') == 'x86_64'
    monkeypatch.setattr(platform, 'processor', lambda: '')
    assert cpu_model_name(tmp_path / 'missing') == 'unknown'
