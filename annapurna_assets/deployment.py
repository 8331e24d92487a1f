"""Which implementation each resource gets and with which settings: a deployment profile and one settings file.

The profile (`local`, the default, or `aws`) picks the kind of each swappable resource; the settings file
(`$ANNAPURNA_HOME/annapurna.yaml`, or the file `ANNAPURNA_CONFIG` names) may pick another kind and sets any field of
any resource, by the field's own name:

    profile: aws
    judge: {kind: claude, model: claude-sonnet-4-5}
    launcher: {kind: ssh, ssh: {host: trn1.example.com}, batching: {batch_size: 10}}
    paper_sources: {arxiv: {categories: [cs.LG], start_date: "2025-01-01"}}
    aws: {region: eu-west-1}

Defaults live only on the resource fields (`annapurna config` lists them). Secrets are never in the file: they are
read through `dg.EnvVar` from the variables in `SECRETS`. Asset code names only the interfaces; this module is the
one place that picks implementations, and a backend's client library is imported only when it is chosen.
"""

from __future__ import annotations

import importlib
import os
import typing
from pathlib import Path

import yaml

from annapurna_resources.storage.home import annapurna_home

if typing.TYPE_CHECKING:  # Dagster is imported where resources are built: `annapurna status` reads kinds without it
    import dagster as dg

PROFILES = {
    "local": {
        "paper_index": "sqlite",
        "blob_store": "local",
        "judge": "offline",
        "code_generator": "offline",
        "notifier": "log",
        "launcher": "local",
    },
    "aws": {
        "paper_index": "opensearch",
        "blob_store": "s3",
        "judge": "offline",
        "code_generator": "offline",
        "notifier": "log",
        "launcher": "ssm",
    },
}
"""The kind of each swappable resource in each deployment profile."""

# resource -> kind -> (class, fields the kind fixes)
KINDS: dict[str, dict[str, tuple[str, dict]]] = {
    "paper_index": {
        "sqlite": ("annapurna_resources.storage.paper_index:SqlitePaperIndex", {}),
        "opensearch": ("annapurna_resources.storage.opensearch_index:OpenSearchPaperIndex", {}),
    },
    "blob_store": {
        "local": ("annapurna_resources.storage.blob_store:LocalBlobStore", {}),
        "s3": ("annapurna_resources.storage.s3_blob_store:S3BlobStore", {}),
    },
    "judge": {
        "offline": ("annapurna_resources.llm.judge:OfflineJudge", {}),
        "claude": ("annapurna_resources.llm.claude_judge:ClaudeJudge", {}),
        "bedrock": ("annapurna_resources.llm.claude_judge:ClaudeJudge", {"use_bedrock": True}),
    },
    "code_generator": {
        "offline": ("annapurna_resources.llm.code_generator:OfflineCodeGenerator", {}),
        "claude": ("annapurna_resources.llm.llm_code_generator:LlmCodeGenerator", {"backend": "anthropic"}),
        "bedrock": ("annapurna_resources.llm.llm_code_generator:LlmCodeGenerator", {"backend": "bedrock"}),
        "openai": ("annapurna_resources.llm.llm_code_generator:LlmCodeGenerator", {"backend": "openai"}),
    },
    "notifier": {
        "log": ("annapurna_resources.notify.notifier:LogNotifier", {}),
        "slack": ("annapurna_resources.notify.slack_notifier:SlackNotifier", {}),
    },
    "launcher": {
        mode: ("annapurna_resources.launcher.trn1_launcher:Trn1Launcher", {"mode": mode})
        for mode in ("local", "ssh", "ssm")
    },
}
SINGLE = {  # resources with one implementation (built in this order: later ones may take earlier ones)
    "embedder": "annapurna_resources.llm.embeddings:MiniLMEmbedder",
    "paper_folder": "annapurna_resources.sources.local_folder:LocalFolderSource",
    "paper_sources": "annapurna_resources.sources.paper_sources:PaperSources",
    "pdf_fetcher": "annapurna_resources.sources.pdf_fetcher:PdfFetcher",
    "lifecycle": "annapurna_assets.lifecycle.settings:LifecycleSettings",
}
ORDER = ("lifecycle", "embedder", "paper_index", "blob_store", "paper_folder", "paper_sources", "pdf_fetcher", "judge")
ORDER += ("code_generator", "notifier", "launcher")

SECRETS = {  # (resource, kind or None for any, field) -> the environment variable it is read from
    ("judge", "claude", "api_key"): "ANTHROPIC_API_KEY",
    ("code_generator", "claude", "api_key"): "ANTHROPIC_API_KEY",
    ("code_generator", "openai", "api_key"): "OPENAI_API_KEY",
    ("notifier", "slack", "token"): "SLACK_BOT_TOKEN",
    ("paper_index", "opensearch", "password"): "ANNAPURNA_OPENSEARCH_PASSWORD",
    ("paper_sources.openreview", None, "username"): "OPENREVIEW_USERNAME",
    ("paper_sources.openreview", None, "password"): "OPENREVIEW_PASSWORD",
}
AWS_FIELDS = {"region": ("aws_region", "region"), "endpoint_url": ("aws_endpoint_url", "endpoint_url")}
"""The `aws:` section fills these fields of every resource that has them (unless the resource sets its own)."""


class SettingsError(ValueError):
    pass


def settings_path() -> Path:
    return Path(os.environ.get("ANNAPURNA_CONFIG") or annapurna_home() / "annapurna.yaml").expanduser()


def load_settings(path: Path | None = None) -> dict:
    """The settings file as a dict ({} when there is none); a clear error when it cannot be read."""
    path = path or settings_path()
    if not path.is_file():
        if os.environ.get("ANNAPURNA_CONFIG"):
            raise SettingsError(f"ANNAPURNA_CONFIG names {path}, which does not exist")
        return {}
    try:
        settings = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise SettingsError(f"{path} is not valid YAML: {error}") from error
    if not isinstance(settings, dict):
        raise SettingsError(f"{path} must be a mapping of resource names to their settings")
    return settings


def profile_of(settings: dict) -> str:
    profile = str(os.environ.get("ANNAPURNA_PROFILE") or settings.get("profile") or "local").strip().lower()
    if profile not in PROFILES:
        raise SettingsError(f"profile {profile!r} is not one of {', '.join(PROFILES)}")
    return profile


def kind_of(resource: str, settings: dict) -> str:
    kind = str((settings.get(resource) or {}).get("kind") or PROFILES[profile_of(settings)][resource]).lower()
    if kind not in KINDS[resource]:
        raise SettingsError(f"{resource}.kind is {kind!r}: expected one of {', '.join(KINDS[resource])}")
    return kind


def _import(target: str):
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def _refuse_unknown(cls, path: str, values: dict) -> None:
    """A misspelt setting is an error, not a default silently kept (in groups such as `launcher.ssh` too)."""
    known = cls.model_fields
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise SettingsError(
            f"{path} ({cls.__name__}) has no setting {', '.join(unknown)}; its settings: {', '.join(known)}"
        )
    for name, value in values.items():
        group = _config_class(known[name].annotation)
        if group is not None and isinstance(value, dict):
            _refuse_unknown(group, f"{path}.{name}", value)


def _secret_fields(resource: str, kind: str | None) -> dict[str, str]:
    return {
        field: variable
        for (owner, owner_kind, field), variable in SECRETS.items()
        if owner == resource and owner_kind in (None, kind)
    }


def _build(
    cls, resource: str, kind: str | None, fields: dict, fixed: dict, built: dict, aws: dict
) -> dg.ConfigurableResource:
    """`cls` from the file's `fields`, with the kind's fixed fields, the shared resources it takes, the `aws:`
    settings and its secrets; nested resources (paper_sources' sources) are built from their own sections."""
    import dagster as dg

    known = cls.model_fields
    _refuse_unknown(cls, resource, {name: value for name, value in fields.items() if name != "kind"})
    values = {name: value for name, value in fields.items() if name != "kind"}
    for name, field in known.items():
        annotation = _resource_class(field.annotation)
        if annotation is not None:
            if name in built:  # a shared resource: the judge's embedder, the Slack notifier's paper index
                values[name] = built[name]
            else:
                section = values.get(name) or {}
                values[name] = _build(annotation, f"{resource}.{name}", None, section, {}, built, aws)
        for setting, names in AWS_FIELDS.items():
            if name in names and name not in values and setting in aws:
                values[name] = aws[setting]
    for field, variable in _secret_fields(resource, kind).items():
        if field in values:
            raise SettingsError(f"{resource}.{field} is a secret: set {variable} in the environment instead")
        if os.environ.get(variable):
            values[field] = dg.EnvVar(variable)
    return cls(**{**values, **fixed})


def build_resource(name: str, settings: dict | None = None) -> dg.ConfigurableResource:
    """One resource (and the ones before it that it may take), for a command that needs only that one."""
    return build_resources(settings, through=name)[name]


def build_resources(settings: dict | None = None, through: str | None = None) -> dict[str, dg.ConfigurableResource]:
    """Every resource (or those up to `through`), for the profile and settings given (default: the settings file's)."""
    settings = load_settings() if settings is None else settings
    unknown = sorted(set(settings) - set(ORDER) - {"profile", "aws"})
    if unknown:
        raise SettingsError(f"unknown section(s) {', '.join(unknown)} in the settings: expected {', '.join(ORDER)}")
    aws = settings.get("aws") or {}
    built: dict[str, dg.ConfigurableResource] = {}
    for resource in ORDER:
        section = settings.get(resource) or {}
        if not isinstance(section, dict):
            raise SettingsError(f"{resource} must be a mapping of settings, not {section!r}")
        if resource in SINGLE:
            cls, kind, fixed = _import(SINGLE[resource]), None, {}
        else:
            kind = kind_of(resource, settings)
            target, fixed = KINDS[resource][kind]
            cls = _import(target)
        built[resource] = _build(cls, resource, kind, section, fixed, built, aws)
        if resource == through:
            break
    return built


def defaults_table() -> str:
    """Every setting of the settings file with its default, as the README's configuration table."""
    rows = ["| setting | default | what it is |", "|---|---|---|"]
    for resource in ORDER:
        fixed = {field for _, preset in KINDS.get(resource, {}).values() for field in preset}
        targets = (
            [SINGLE[resource]] if resource in SINGLE else list(dict.fromkeys(t for t, _ in KINDS[resource].values()))
        )
        for target in targets:
            kinds = [kind for kind, (t, _) in KINDS.get(resource, {}).items() if t == target]
            rows += _setting_rows(_import(target), resource, f" ({', '.join(kinds)})" if kinds else "", fixed)
    return "\n".join(rows)


def _setting_rows(cls, path: str, kinds: str, fixed: set[str] = frozenset()) -> list[str]:
    """The rows of `cls`'s settings under `path`, but those its kind fixes (`launcher.mode` is the kind)."""
    rows = []
    secrets = {field: variable for (owner, _, field), variable in SECRETS.items() if owner == path}
    for name, field in cls.model_fields.items():
        if name in fixed:
            continue
        nested = _resource_class(field.annotation) or _config_class(field.annotation)
        if nested is not None:
            if name not in ORDER:  # a shared resource is listed under its own name
                rows += _setting_rows(nested, f"{path}.{name}", "")
            continue
        default = f"env `{secrets[name]}`" if name in secrets else _shown(field.default)
        description = (field.description or "").replace("|", "/").replace("\n", " ")
        rows.append(f"| `{path}.{name}`{kinds} | {default} | {description} |")
    return rows


def _config_class(annotation) -> type | None:
    """The settings group a field holds (`launcher.limits`, `launcher.ssh`, ...), else None."""
    import dagster as dg

    return annotation if isinstance(annotation, type) and issubclass(annotation, dg.Config) else None


def _resource_class(annotation) -> type | None:
    """The resource class a field takes (Dagster declares such a field as `Resource | PartialResource`), else None."""
    import dagster as dg

    for candidate in typing.get_args(annotation) or (annotation,):
        if isinstance(candidate, type) and issubclass(candidate, dg.ConfigurableResource):
            return candidate
    return None


def _shown(value) -> str:
    if value is None or value is typing.Any or repr(value) == "PydanticUndefined":
        return "required"
    text = str(value).replace("\n", " ")
    return f"`{text[:60]}…`" if len(text) > 60 else f"`{text}`" if text else "empty"
