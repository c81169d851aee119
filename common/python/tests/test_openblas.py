import ctypes

from mnist_common import openblas


def test_the_kernel_family_is_the_newest_the_cpu_allows():
    assert openblas.kernel_family({"fpu", "avx2", "fma", "avx512f", "avx512bw", "avx512vl"}) == "SkylakeX"
    assert openblas.kernel_family({"avx2", "fma", "avx512f"}) == "Haswell"  # AVX-512 without BW/VL: not SkylakeX
    assert openblas.kernel_family({"avx2", "fma"}) == "Haswell"
    assert openblas.kernel_family({"sse4_2", "avx"}) is None


def test_name_kernels_keeps_the_users_choice(tmp_path, monkeypatch):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor : 0\nflags : fpu avx2 fma avx512f avx512bw avx512vl\n")
    monkeypatch.delenv("OPENBLAS_CORETYPE", raising=False)
    openblas.name_kernels(cpuinfo)
    assert openblas.os.environ["OPENBLAS_CORETYPE"] == "SkylakeX"
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    openblas.name_kernels(cpuinfo)
    assert openblas.os.environ["OPENBLAS_CORETYPE"] == "Haswell"
    monkeypatch.delenv("OPENBLAS_CORETYPE")
    openblas.name_kernels(tmp_path / "absent")
    assert "OPENBLAS_CORETYPE" not in openblas.os.environ


def test_load_system_openblas_loads_it_globally_or_says_it_is_absent(tmp_path, monkeypatch):
    loaded = []
    monkeypatch.setattr(ctypes, "CDLL", lambda name, mode: loaded.append((name, mode)))
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    assert openblas.load_system_openblas(tmp_path / "absent.so") is False and loaded == []
    library = tmp_path / "libopenblas.so.0"
    library.write_bytes(b"")
    assert openblas.load_system_openblas(library) is True
    assert loaded == [(str(library), ctypes.RTLD_GLOBAL)]
