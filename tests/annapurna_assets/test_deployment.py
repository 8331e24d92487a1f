"""Deployment settings: a profile picks the resource set, the settings file sets fields by their own names, secrets
come only from the environment, and a wrong setting is refused with its name and what it accepts."""

import re
from pathlib import Path

import dagster as dg
import pytest

from annapurna_assets.deployment import SECRETS, SettingsError, build_resources, defaults_table, load_settings
from annapurna_resources import Trn1Launcher
from tests.conftest import configure

README = Path(__file__).resolve().parents[2] / "README.md"
ENV_READ = r"""(?:environ(?:\.get)?\(|environ\[|EnvVar\(|getenv\(|_ENV = )["']([A-Z][A-Z0-9_]+)["']"""
SYSTEM = {"HOME", "PATH"}  # passed through to the batch runner, not Annapurna's configuration


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"profile": "gcp"}, "profile 'gcp' is not one of local, aws"),
        ({"paper_index": {"kind": "elastic"}}, "paper_index.kind is 'elastic': expected one of sqlite, opensearch"),
        ({"blob_store": {"kind": "gcs"}}, "blob_store.kind is 'gcs': expected one of local, s3"),
        ({"launcher": {"kind": "sshh"}}, "launcher.kind is 'sshh': expected one of local, ssh, ssm"),
        ({"judge": {"modle": "x"}}, "judge .OfflineJudge. has no setting modle; its settings: embedder, research"),
        ({"jduge": {"kind": "claude"}}, "unknown section.s. jduge"),
        ({"judge": {"kind": "claude", "api_key": "sk-ant"}}, "judge.api_key is a secret: set ANTHROPIC_API_KEY"),
        ({"launcher": {"slots": "four"}}, "slots"),
    ],
)
def test_a_wrong_setting_is_refused_by_name(settings, message):
    with pytest.raises((SettingsError, ValueError), match=message):
        build_resources(settings)


def test_the_aws_profile_switches_every_default_and_the_aws_section_fills_regions():
    resources = build_resources({"profile": "aws", "blob_store": {"bucket": "annapurna-test"}, "aws": {"region": "x"}})
    kinds = {name: type(resources[name]).__name__ for name in ("paper_index", "blob_store", "launcher")}
    assert kinds == {"paper_index": "OpenSearchPaperIndex", "blob_store": "S3BlobStore", "launcher": "Trn1Launcher"}
    assert resources["launcher"].mode == "ssm" and resources["launcher"].slots == 0  # sized on the instance
    assert resources["blob_store"].region == resources["paper_index"].aws_region == resources["launcher"].aws_region


def test_the_settings_file_reaches_nested_sources_and_secrets_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.setenv("OPENREVIEW_USERNAME", "reader@example.org")
    configure(
        judge={"kind": "claude", "model": "claude-haiku-4-5"},
        paper_sources={"arxiv": {"categories": ["cs.LG"], "start_date": "2024-06-01"}},
        lifecycle={"batch_size": 7},
    )
    resources = build_resources()
    judge = resources["judge"]
    assert judge.model == "claude-haiku-4-5" and isinstance(judge.api_key, dg.EnvVar)
    assert resources["paper_sources"].arxiv.categories == ["cs.LG"]
    assert isinstance(resources["paper_sources"].openreview.username, dg.EnvVar)
    assert resources["lifecycle"].batch_size == 7
    from annapurna_assets.definitions import build_definitions

    arxiv = build_definitions(resources).get_assets_def("arxiv_listing")
    assert arxiv.partitions_def.start.date().isoformat() == "2024-06-01"


def test_a_broken_settings_file_says_where(tmp_path, monkeypatch):
    broken = tmp_path / "broken.yaml"
    broken.write_text("judge: [unclosed")
    monkeypatch.setenv("ANNAPURNA_CONFIG", str(broken))
    with pytest.raises(SettingsError, match="broken.yaml is not valid YAML"):
        load_settings()
    monkeypatch.setenv("ANNAPURNA_CONFIG", str(tmp_path / "missing.yaml"))
    with pytest.raises(SettingsError, match="ANNAPURNA_CONFIG names .*missing.yaml, which does not exist"):
        load_settings()


@pytest.mark.parametrize(
    "launcher, message",
    [
        (Trn1Launcher(mode="ssh"), "ssh mode needs a host"),
        (Trn1Launcher(mode="ssm", ssm={"bucket": "annapurna-test"}), "ssm mode needs launcher.ec2.instance_id"),
    ],
)
def test_a_remote_mode_without_its_host_is_refused(launcher, message):
    with pytest.raises(dg.Failure, match=message):
        launcher.host()


def test_the_readme_configuration_table_is_the_code_s():
    """README's settings table is `annapurna config --table`; its environment variables are the ones the code reads."""
    readme = README.read_text()
    block = re.search(r"<!-- settings table -->\n(.*?)\n<!-- end settings table -->", readme, re.S)
    assert block, "README has no settings table between its markers"
    assert block.group(1) == defaults_table(), "README's settings table is stale: paste `annapurna config --table`"
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", readme, re.M))
    code = README.parent
    read = set()
    for path in [*(code / "annapurna_assets").rglob("*.py"), *(code / "annapurna_resources").rglob("*.py")]:
        read |= set(re.findall(ENV_READ, path.read_text()))
    read = (read | set(SECRETS.values())) - SYSTEM
    assert documented == read, f"only in README: {sorted(documented - read)}; only in code: {sorted(read - documented)}"


def test_the_cli_names_a_wrong_setting_without_a_traceback(capsys):
    from annapurna_assets import cli

    configure(judge={"kind": "gpt"})
    assert cli.main(["config"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "annapurna: judge.kind is 'gpt': expected one of offline, claude, bedrock"
