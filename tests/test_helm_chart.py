"""The Helm chart in charts/understudy: it lints, renders manifests the Kubernetes schemas
accept, and renders what a scaled-out deployment needs.

helm comes from ``UNDERSTUDY_HELM`` (``.ci/install-helm`` sets it in CI, where a missing
helm is a failure) or ``PATH``; the tests that need it skip without it. The values
schema and the scenario-file layout are checked without helm.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import httpx
import jsonschema
import pytest
import yaml

from tests.conftest import run_server
from understudy.settings import Settings

CHART = Path(__file__).resolve().parents[1] / "charts" / "understudy"
HELM = os.environ.get("UNDERSTUDY_HELM") or shutil.which("helm")
needs_helm = pytest.mark.skipif(
    not HELM and not os.environ.get("CI"),
    reason="helm is not installed (HELM=$(bash .ci/install-helm) installs it)",
)
SCALED = {
    "replicaCount": 3,
    "workers": 2,
    "state": {"url": "redis://redis:6379/0"},
    "adminToken": {"existingSecret": "understudy-admin"},
    "autoscaling": {"enabled": True},
    "scenarios": {
        "files": {"checkout.yaml": "name: checkout\ndefault: true\nreply: {content: hi}\n"}
    },
}


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    assert HELM, "CI is set but UNDERSTUDY_HELM names no helm"
    return subprocess.run([HELM, *args], capture_output=True, text=True, timeout=60)


def render(values: dict | None = None, tmp_path: Path | None = None) -> dict[str, dict]:
    """``helm template`` with a values file; the manifests by kind."""
    args = []
    if values:
        assert tmp_path is not None
        (tmp_path / "values.yaml").write_text(yaml.safe_dump(values))
        args = ["--values", str(tmp_path / "values.yaml")]
    done = helm("template", "mock", str(CHART), "--namespace", "ci", *args)
    assert done.returncode == 0, done.stderr
    return {doc["kind"]: doc for doc in yaml.safe_load_all(done.stdout) if doc}


def env_of(deployment: dict) -> dict[str, dict]:
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return {item["name"]: item for item in container["env"]}


@needs_helm
def test_the_chart_lints_strictly() -> None:
    done = helm("lint", "--strict", str(CHART))
    assert done.returncode == 0, done.stdout + done.stderr


@needs_helm
@pytest.mark.parametrize("values", [None, SCALED], ids=["defaults", "scaled"])
def test_rendered_manifests_pass_the_kubernetes_schemas(
    values: dict | None, tmp_path: Path
) -> None:
    if os.environ.get("CI"):  # .ci/run installs it
        import kubernetes_validate
    else:
        kubernetes_validate = pytest.importorskip("kubernetes_validate")
    for manifest in render(values, tmp_path).values():
        kubernetes_validate.validate(manifest, "1.30.0", strict=True)


@needs_helm
def test_a_scaled_release_shares_state_and_runs_locked_down(tmp_path: Path) -> None:
    manifests = render(SCALED, tmp_path)
    assert {"Deployment", "Service", "ConfigMap", "HorizontalPodAutoscaler"} <= set(manifests)
    deployment = manifests["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    env = env_of(deployment)
    assert env["UNDERSTUDY_STATE"]["value"] == "redis://redis:6379/0"
    assert env["UNDERSTUDY_WORKERS"]["value"] == "2"
    assert env["UNDERSTUDY_ADMIN_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "understudy-admin"
    hosts = env["UNDERSTUDY_ALLOWED_HOSTS"]["value"].split(",")
    assert {"mock-understudy", "mock-understudy.ci.svc"} <= set(hosts)
    # Files, not the folder: see test_the_scenario_files_the_chart_names_load_once.
    assert env["UNDERSTUDY_SCENARIOS"]["value"] == (
        "/app/scenarios:/etc/understudy/scenarios/checkout.yaml"
    )
    assert "replicas" not in deployment["spec"]  # the autoscaler owns it
    assert pod["securityContext"]["runAsUser"] == 10001 and pod["securityContext"]["runAsNonRoot"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["path"] == "/health"
    service = manifests["Service"]
    assert service["metadata"]["name"] == "mock-understudy"


@needs_helm
@pytest.mark.parametrize(
    "values", [{"replicaCount": 2}, {"workers": 2}, {"autoscaling.enabled": "true"}]
)
def test_several_processes_without_shared_state_do_not_render(values: dict) -> None:
    sets = [arg for key, value in values.items() for arg in ("--set", f"{key}={value}")]
    done = helm("template", "mock", str(CHART), *sets)
    assert done.returncode != 0
    assert "state.url" in done.stderr


@needs_helm
def test_a_value_the_schema_refuses_does_not_render() -> None:
    done = helm("template", "mock", str(CHART), "--set", "state.url=http://redis:6379")
    assert done.returncode != 0 and "state" in done.stderr


def test_the_default_values_match_the_values_schema() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    jsonschema.validate(values, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**values, "replicas": 3}, schema)  # a misspelt key


def test_the_scenario_files_the_chart_names_load_once(tmp_path: Path) -> None:
    """A ConfigMap volume as the kubelet lays it out: the files under a hidden timestamped
    folder, reached through ``..data`` links. The chart names each file, and the server
    loads each once and answers from it."""
    folder = tmp_path / "scenarios"
    real = folder / "..2026_01_01_00_00_00.1"
    real.mkdir(parents=True)
    (real / "checkout.yaml").write_text("name: cm\ndefault: true\nreply: {content: from the map}\n")
    (folder / "..data").symlink_to(real.name)
    (folder / "checkout.yaml").symlink_to("..data/checkout.yaml")
    settings = Settings(scenarios=[str(folder / "checkout.yaml")], reload=False)
    with run_server(settings) as url:
        reply = httpx.post(
            f"{url}/v1/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        )
    assert reply.json()["choices"][0]["message"]["content"] == "from the map"
