"""Precision 'auto': bf16 only where the hardware computes it, decided by one function."""

import json
import logging
from pathlib import Path

import pytest
import torch
from test_train import small_run

from quadpred import device as device_module
from quadpred.device import autocast, describe_cpu, resolve_precision
from quadpred.errors import TrainingError
from quadpred.predict import Predictor
from quadpred.stages import pretrain

CPU = torch.device("cpu")


def yes() -> bool:
    return True


def no() -> bool:
    return False


@pytest.mark.parametrize(("native", "expected"), [(yes, "bf16"), (no, "fp32")])
def test_auto_takes_bf16_only_on_a_cpu_with_native_bf16(native, expected):
    assert resolve_precision("auto", CPU, native_bf16=native) == expected
    assert resolve_precision("fp32", CPU, native_bf16=native) == "fp32"


@pytest.mark.parametrize(("supported", "expected"), [(yes, "bf16"), (no, "fp32")])
def test_auto_on_a_gpu_follows_its_bf16_support(supported, expected):
    assert resolve_precision("auto", "cuda", cuda_bf16=supported) == expected
    assert resolve_precision("fp16", "cuda", cuda_bf16=supported) == "fp16"


def test_forced_bf16_on_an_emulating_cpu_warns_once_with_its_cost(monkeypatch, caplog):
    monkeypatch.setattr(device_module, "_warned", set())
    with caplog.at_level(logging.WARNING, logger="quadpred"):
        assert resolve_precision("bf16", CPU, native_bf16=no) == "bf16"
        assert resolve_precision("bf16", CPU, native_bf16=no) == "bf16"
        resolve_precision("bf16", CPU, native_bf16=yes)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "10x slower" in warnings[0] and "auto" in warnings[0]


def test_fp16_on_a_cpu_and_unknown_names_are_refused():
    with pytest.raises(TrainingError, match="fp16 needs a GPU"):
        resolve_precision("fp16", CPU)
    with pytest.raises(TrainingError, match="'auto'"):
        resolve_precision("int4", CPU)


def test_autocast_follows_the_resolved_precision(monkeypatch):
    monkeypatch.setattr(device_module, "cpu_has_native_bf16", no)
    x = torch.randn(4, 8)
    with autocast(CPU, "auto"):
        assert torch.nn.functional.linear(x, torch.randn(3, 8)).dtype == torch.float32
    with autocast(CPU, "bf16"):
        assert torch.nn.functional.linear(x, torch.randn(3, 8)).dtype == torch.bfloat16


@pytest.mark.parametrize(("flags", "capability", "isa", "expected"), [
    (True, "AVX512", None, True),
    (False, "AVX512", None, False),             # AVX-512 without its bf16 extension
    (True, "AVX2", None, False),                # ATEN_CPU_CAPABILITY=avx2 on an AVX-512-BF16 CPU
    (True, "AVX512", "AVX2", False),            # ONEDNN_MAX_CPU_ISA=AVX2: the convolutions would emulate it
    (True, "AVX512", "avx512_core_amx", True),
])
def test_native_bf16_needs_the_flags_and_kernels_allowed_to_use_them(monkeypatch, flags, capability, isa, expected):
    monkeypatch.setattr(device_module, "_cpu_flag", lambda name: flags)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    if isa is None:
        monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    else:
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", isa)
    assert device_module.cpu_has_native_bf16() is expected
    assert resolve_precision("auto", CPU) == ("bf16" if expected else "fp32")


def test_describe_cpu_names_the_capability_and_the_decision():
    line = describe_cpu()
    assert torch.backends.cpu.get_cpu_capability() in line
    assert ("-> bf16" in line) == device_module.cpu_has_native_bf16()


@pytest.mark.parametrize("native", [yes, no])
def test_a_run_records_the_precision_it_used_and_a_predictor_reports_it(tiny_study, tiny_model: Path,
                                                                        tmp_path: Path, monkeypatch, native):
    monkeypatch.setattr(device_module, "cpu_has_native_bf16", native)
    expected = "bf16" if native() else "fp32"
    clips, store = tiny_study
    pretrain(clips["speech_eng"], store, tmp_path / "pre", run=small_run("train.epochs=1"), progress=False)
    assert json.loads((tmp_path / "pre" / "config.json").read_text())["train"]["precision"] == expected
    assert json.loads((tmp_path / "pre" / "summary.json").read_text())["train"]["precision"] == expected
    assert Predictor.from_dir(tiny_model, device="cpu").provenance["precision"] == expected


def test_a_run_folder_of_another_precision_is_refused_naming_the_setting(tiny_study, tmp_path: Path):
    clips, store = tiny_study
    pretrain(clips["speech_eng"], store, tmp_path / "pre", run=small_run("train.epochs=1", "train.precision=fp32"),
             progress=False)
    with pytest.raises(TrainingError, match=r'train\.precision: "fp32" -> "bf16"'):
        pretrain(clips["speech_eng"], store, tmp_path / "pre", run=small_run("train.epochs=1", "train.precision=bf16"),
                 progress=False)
