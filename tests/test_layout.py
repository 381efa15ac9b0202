"""Settings and run folders of the grid."""

import pytest

from quadpred.errors import ConfigError
from quadpred.layout import Setting, pretrain_folder, transfer_folder


@pytest.mark.parametrize("name", ["eng2man", "mix2eng", "baseline-eng"])
def test_a_setting_reads_back_its_own_name(name: str):
    assert str(Setting.parse(name)) == name


def test_settings_know_their_languages_and_folders():
    cross = Setting.parse("man2eng")
    assert cross == ("man", "eng") and not cross.intra and Setting("eng", "eng").intra
    assert Setting.parse("baseline-man") == Setting(None, "man")
    assert transfer_folder(cross, "scae", 2) == "transfer/man2eng/scae/r2"
    assert transfer_folder(Setting(None, "man"), None, 0) == "transfer/baseline-man/r0"
    assert pretrain_folder("dae-sparsity", "mix", 1) == "pretrain/dae-sparsity-mix/r1"


@pytest.mark.parametrize("name", ["eng", "2eng", "eng2", "baseline-", "eng2man2eng"])
def test_a_malformed_setting_is_refused_with_the_form_to_use(name: str):
    with pytest.raises(ConfigError, match="<speech>2<music>"):
        Setting.parse(name)
