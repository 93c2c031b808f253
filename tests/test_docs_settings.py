"""Every setting is documented: its environment variable appears in README.md's settings
table, so a new cap cannot ship undocumented."""

from dataclasses import fields
from pathlib import Path

from understudy.settings import Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_in_the_readme() -> None:
    table = README[README.index("| setting | flag | environment | default |") :]
    missing = []
    for spec in fields(Settings):
        name = spec.metadata["env"]
        # Rows that group related variables write the later ones as their suffix.
        suffix = "_" + name.rsplit("_", 1)[-1]
        if f"`{name}" not in table and not (
            name.startswith("UNDERSTUDY_RUNTIME_SCENARIOS_") and f"`{suffix}`" in table
        ):
            missing.append(name)
    assert not missing, f"settings missing from README.md's table: {missing}"
