"""Issue 23 (6): every numeric option of every command, fed nan, inf, 0, -1 and 1e309.

The options come from the CLI itself (the command tree, walked), so an option added later is
covered without touching this file.  Each value must give either success (the value is in the
option's declared range) or exit 2 with one line naming the option: never a traceback, never
exit 1, never an out-of-range value reaching the command.  The commands' own code is replaced
by a recorder, so no stage runs: the values are checked before any work starts.
"""

from __future__ import annotations

import math
import re

import pytest
import typer

from realsync_build.cli import app, values
from realsync_build.cli.configfile import leaves, walk

try:  # the click that typer uses (typer >= 0.20 carries its own copy)
    from typer._click.testing import CliRunner
except ImportError:  # pragma: no cover
    from click.testing import CliRunner

PROBES = ("nan", "inf", "-inf", "0", "-1", "1e309")
runner = CliRunner()


def _is_numeric(p) -> bool:
    """A numeric option, decided from typer's own description of it (not from cli/values.py)."""
    if getattr(p, "count", False) or getattr(p, "is_flag", False) or not getattr(p, "opts", None):
        return False
    td = getattr(p, "type_descriptor", None)
    if td is not None:
        return td.annotation in (int, float)
    return type(getattr(p, "type", None)).__name__ in ("IntParamType", "IntRange", "FloatParamType", "FloatRange")


def _looks_numeric(p) -> bool:
    """A text option whose default is a number or a size (``1GB``, ``0``, ``90/5/5``, ``18``)."""
    d = getattr(p, "default", None)
    return isinstance(d, str) and bool(re.fullmatch(r"[0-9][0-9.,/eE+-]*[kKmMgGtTbB]*", d))


@pytest.fixture(scope="module")
def tree():
    """The command tree with every command's code replaced by a recorder of the values it got."""
    cli = typer.main.get_command(app)
    calls: list[dict] = []
    for cmd in leaves(cli).values():
        cmd.callback = lambda **kw: calls.append(kw)
    return cli, calls


def _options(cli):
    return [(path, cmd, p) for path, cmd in walk(cli) for p in cmd.params if values.rule_of(p) is not None]


def _required_args(cmd, skip) -> list[str]:
    out = []
    for p in cmd.params:
        if p is skip or not p.required:
            continue
        out += ["x"] if not getattr(p, "opts", [""])[0].startswith("-") else [p.opts[0], "x"]
    return out


def _expected(rule, text: str) -> bool:
    """Whether ``text`` is in ``rule``'s range, decided here from its bounds alone."""
    try:
        x = float(text)
    except ValueError:
        return False
    if not math.isfinite(x) or (rule.integer and (not x.is_integer() or "e" in text)):
        return False
    return not ((rule.ge is not None and x < rule.ge) or (rule.gt is not None and x <= rule.gt)
                or (rule.le is not None and x > rule.le) or (rule.lt is not None and x >= rule.lt))  # fmt: skip


def test_every_numeric_option_has_a_rule_with_a_lower_bound(tree):
    cli, _ = tree
    numeric = [(path, p) for path, cmd in walk(cli) for p in cmd.params if _is_numeric(p) or _looks_numeric(p)]
    assert len(numeric) > 60  # every command's numbers, not a few
    missing = [(" ".join(path), p.name) for path, p in numeric if values.rule_of(p) is None]
    assert missing == [], f"numeric options without a rule (cli/values.py): {missing}"
    unbounded = [(" ".join(path), p.name) for path, p in numeric
                 if values.rule_of(p).parse is None and values.rule_of(p).lower is None]  # fmt: skip
    assert unbounded == [], f"numeric options without a lower bound (min= or a rule): {unbounded}"
    # every rule in the table names an option that exists (a renamed option does not lose its rule)
    names = {(" ".join(path), p.name) for path, cmd in walk(cli) for p in cmd.params}
    stale = [(c, n) for c, table in values.RULES.items() for n in table if (c, n) not in names]
    assert stale == [], f"rules for options that no longer exist: {stale}"


def test_every_command_runs_with_its_defaults(tree):
    cli, calls = tree
    for path, cmd in leaves(cli).items():
        calls.clear()
        res = runner.invoke(cli, [*path, *_required_args(cmd, None)], env={"REALSYNC_CONFIG": None})
        assert res.exit_code == 0 and len(calls) == 1, (path, res.output)  # every default passes its own rule


def test_nan_inf_zero_minus_one_and_1e309_in_every_numeric_option(tree):
    cli, calls = tree
    checked = 0
    for path, cmd, p in _options(cli):
        rule = values.rule_of(p)
        flag = values.flag_of(p)
        for probe in PROBES:
            calls.clear()
            res = runner.invoke(cli, [*path, f"{flag}={probe}", *_required_args(cmd, p)], env={"REALSYNC_CONFIG": None})
            case = (" ".join(path), flag, probe, res.output)
            assert res.exception is None or isinstance(res.exception, SystemExit), case  # no traceback
            if rule.parse is None:
                accept = _expected(rule, probe)
            else:  # a text option (size, ratios, window counts): its parser decides
                try:
                    rule.check(probe)
                    accept = True
                except ValueError:
                    accept = False
            if accept:
                assert res.exit_code == 0 and len(calls) == 1, case
                got = calls[0][p.name]
                assert got == probe if rule.parse else got == float(probe), case
            else:
                assert res.exit_code == 2 and calls == [], case
                lines = res.output.strip().splitlines()
                assert len(lines) == 1 and flag in lines[0], case
            if probe in ("nan", "inf", "-inf", "1e309"):
                assert not accept, case  # never a non-finite number
            checked += 1
    assert checked >= 6 * 60


def test_the_same_checks_apply_to_config_file_values(tree, tmp_path):
    cli, calls = tree
    cfg = tmp_path / "rs.toml"
    for path, cmd, p in _options(cli):
        rule = values.rule_of(p)
        table = ".".join(path)
        for probe in ("nan", "inf", "-1", "1e309"):
            literal = f'"{probe}"' if rule.parse else probe  # TOML has nan, inf and numbers; sizes are strings
            cfg.write_text(f"[{table}]\n{p.name} = {literal}\n")
            calls.clear()
            res = runner.invoke(cli, [*path, "--config", str(cfg), *_required_args(cmd, p)], env={"REALSYNC_CONFIG": None})
            case = (table, p.name, probe, res.output)
            accept = _expected(rule, probe) if rule.parse is None else False
            if rule.parse is None and rule.integer and probe == "-1" and accept:
                continue  # an integer option that takes -1 (none today)
            if accept:
                assert res.exit_code == 0 and len(calls) == 1, case
            else:
                assert res.exit_code == 2 and calls == [], case
                line = res.output.strip()
                assert len(line.splitlines()) == 1 and str(cfg) in line and (values.flag_of(p) in line or p.name in line), case
    # $REALSYNC_CONFIG is read the same way
    cfg.write_text("[annotate]\nface_fps = nan\n")
    res = runner.invoke(cli, ["annotate"], env={"REALSYNC_CONFIG": str(cfg)})
    assert res.exit_code == 2 and "--face-fps" in res.output and "config file" in res.output, res.output
    # a TOML true/false or an array is no number (pydantic would read true as 1)
    for literal in ("true", "[1]"):
        cfg.write_text(f"workers = 2\n[preprocess]\ncrf = {literal}\n")
        res = runner.invoke(cli, ["preprocess", "--config", str(cfg)], env={"REALSYNC_CONFIG": None})
        assert res.exit_code == 2 and "crf" in res.output and len(res.output.strip().splitlines()) == 1, res.output
