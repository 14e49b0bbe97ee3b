"""``bluezone sim run``: the command's outputs, and one clear line (exit 2) for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sim.cli import main
from sim.report import PLOTS

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_sim_run_writes_metrics_report_and_plots(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = main(["run", "--agents", "3000", "--days", "4", "--out", str(out), "--quiet", "--no-real-path"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.out == "" and captured.err == ""  # --quiet
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["config"]["agents"] == 3000 and metrics["config"]["days"] == 4
    assert "real_path_check" not in metrics
    assert (
        (out / "report.md")
        .read_text(encoding="utf-8")
        .startswith("# Simulation: uniform, 3,000 agents × 4 days")
    )
    assert len(PLOTS) == 5
    for name in PLOTS:
        assert (out / name).read_bytes()[:8] == PNG_SIGNATURE, name


def test_sim_run_takes_settings_from_a_toml_file_and_flags_win(tmp_path: Path) -> None:
    config = tmp_path / "scenario.toml"
    config.write_text(
        "[scenario]\nagents = 500\ndays = 2\nseed = 9\nscenario = 'tuyen-quang'\n", encoding="utf-8"
    )
    out = tmp_path / "out"
    code = main(
        [
            "run",
            "--config",
            str(config),
            "--days",
            "3",
            "--thresholds",
            "55,63,73",
            "--out",
            str(out),
            "--quiet",
            "--no-real-path",
        ]
    )
    assert code == 0
    got = json.loads((out / "metrics.json").read_text(encoding="utf-8"))["config"]
    assert (got["agents"], got["days"], got["seed"], got["scenario"]) == (500, 3, 9, "tuyen-quang")
    assert got["attenuation_thresholds_db"] == [55, 63, 73]


def test_sim_run_without_quiet_prints_a_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "--agents", "300", "--days", "2", "--out", str(tmp_path), "--no-real-path"])
    captured = capsys.readouterr()
    assert code == 0
    assert "300 agents × 2 days" in captured.out
    assert "metrics.json" in captured.out


def test_sim_run_with_the_real_path_checks_agreement(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", "--agents", "300", "--days", "3", "--out", str(tmp_path), "--quiet"])
    assert code == 0, capsys.readouterr().err
    check = json.loads((tmp_path / "metrics.json").read_text(encoding="utf-8"))["real_path_check"]
    assert check["agree"] is True


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--agents", "5"], "agents must be 10..5,000,000"),
        (["--adoption", "2"], "adoption must be within 0..1"),
        (["--thresholds", "70,60,50"], "need strictly increasing values"),
        (["--config", "missing.toml"], "cannot read missing.toml"),
        (["--scenario", "hanoi"], "scenario must be one of"),
        (["--days", "0"], "days must be"),
        (["--weights", "1,2,3"], "attenuation_bucket_weights"),
    ],
)
def test_bad_input_gives_exit_2_and_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    flags: list[str],
    words: str,
) -> None:
    monkeypatch.chdir(tmp_path)  # missing.toml is missing here
    code = main(["run", *flags, "--out", str(tmp_path / "out"), "--quiet", "--no-real-path"])
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("bluezone sim run: ")
    assert words in lines[0]
    assert "Traceback" not in captured.err
    assert captured.out == ""
    assert not (tmp_path / "out").exists()


def test_a_negative_seed_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "run",
            "--seed",
            "-1",
            "--agents",
            "300",
            "--days",
            "2",
            "--out",
            str(tmp_path),
            "--quiet",
            "--no-real-path",
        ]
    )
    assert code == 2
    assert capsys.readouterr().err.startswith("bluezone sim run: ")


def test_a_top_level_scenario_key_in_the_config_file_is_accepted(tmp_path: Path) -> None:
    config = tmp_path / "scenario.toml"
    config.write_text("agents = 300\ndays = 2\nscenario = 'tuyen-quang'\n", encoding="utf-8")
    assert (
        main(["run", "--config", str(config), "--out", str(tmp_path / "out"), "--quiet", "--no-real-path"])
        == 0
    )


def test_an_unwritable_output_folder_gives_exit_1_and_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder", encoding="utf-8")
    code = main(
        ["run", "--agents", "300", "--days", "1", "--out", str(blocker / "out"), "--quiet", "--no-real-path"]
    )
    captured = capsys.readouterr()
    assert code == 1
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("bluezone sim run: cannot write to ")


def test_unknown_sim_command_gives_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fly"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bluezone sim: unknown command 'fly'")
    assert len(err.splitlines()) == 1


def test_bare_sim_prints_usage_and_exits_2_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert capsys.readouterr().out.startswith("usage: bluezone sim run")
    assert main(["--help"]) == 0
    assert "bluezone sim run" in capsys.readouterr().out


def test_argparse_rejects_a_malformed_number_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["run", "--thresholds", "sixty"])
    assert raised.value.code == 2
    assert "expected integers separated by commas" in capsys.readouterr().err
