"""TrainJob: a training run in a background thread (one per process), its cancel and errors; the catalogue,
starting configs, output folder rule and command line the Train page uses."""
import argparse
import shlex
import threading
import time

import pytest

import engine
from engine.training import (ARCH_MODELS, RECIPES, TASK_ARCHS, TrainConfig, TrainJob, cli_command, default_config,
                             output_folder, recipe_config, resume)
from engine.training.cli import add_parsers

TINY = {"d_emb": 8, "d_hidden": 16, "d_attn": 8, "dropout": 0.0, "max_len": 16}


@pytest.fixture(autouse=True)
def runs_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setattr(resume, "RUNS_DIR", tmp_path / "runs")


def tiny(name: str, **kw) -> dict:
    return {"name": name, "task": "addition", "arch": "gru-attn", "model": TINY, "steps": 6, "batch_size": 8,
            "eval_every": 3, "eval_examples": 20, "data_sizes": {"train": 200, "valid": 20, "test": 20},
            "lr": 1e-2, "threads": 1, **kw}


def wait_for(cond, limit=60.0):
    t = time.time()
    while not cond() and time.time() - t < limit:
        time.sleep(0.05)
    assert cond(), "timed out"


def test_a_job_trains_in_the_background_and_saves_its_checkpoint(tmp_path):
    job = TrainJob.start(tiny("job-tiny", ss_schedule="inverse_sigmoid", ss_k=2.0), tmp_path)
    assert TrainJob.current() is job and job.name == "job-tiny" and job.out_dir == tmp_path
    assert job.wait(120) and not job.running
    assert job.error is None, job.error
    assert [s["step"] for s in job.steps] == list(range(1, 7))
    assert all(set(s) == {"step", "loss", "eps", "elapsed"} for s in job.steps)
    assert [e["step"] for e in job.evals] == [3, 6]
    assert job.card["steps"] == 6 and "test_exact_match" in job.card["metrics"]
    assert job.card["command"].startswith("dashboard Train page: ")
    assert engine.load(tmp_path / "job-tiny").task == "addition"


def test_cancel_stops_after_the_current_step_and_saves(tmp_path):
    job = TrainJob.start(tiny("job-cancel", steps=5000, eval_every=5000), tmp_path)
    wait_for(lambda: job.steps)
    # one run at a time per process: a second start is refused while this one runs
    with pytest.raises(ValueError, match="already in progress"):
        TrainJob.start(tiny("job-second"), tmp_path)
    job.cancel()
    assert job.cancelling
    assert job.wait(120) and job.error is None
    assert job.card["stopped"].startswith("cancelled at step") and job.card["steps"] < 5000
    assert (tmp_path / "job-cancel" / "model.safetensors").exists()
    assert not (tmp_path / "job-second").exists()


def test_bad_config_is_one_line_before_any_thread(tmp_path):
    before = TrainJob.current()
    threads = threading.active_count()
    for bad, msg in ((tiny("x", ss_schedule="inverse_sigmoid", ss_k=0.5), "k >= 1"),
                     (tiny("x", nope=1), "unknown training option"),
                     (tiny("bad name!"), "invalid name")):
        with pytest.raises(ValueError, match=msg) as e:
            TrainJob.start(bad, tmp_path)
        assert "\n" not in str(e.value)
    assert TrainJob.current() is before and threading.active_count() == threads


def test_an_error_in_the_run_is_one_line(tmp_path):
    job = TrainJob.start(tiny("job-err", init_from=str(tmp_path / "missing")), tmp_path)
    assert job.wait(120) and job.card is None
    assert job.error and "\n" not in job.error


def test_catalogue_and_starting_configs_are_valid():
    for task, archs in TASK_ARCHS.items():
        for arch in archs:
            assert arch in ARCH_MODELS
            d = default_config(task, arch)
            assert d["name"] == f"{task}-{arch}-dash"
            TrainConfig.from_dict(d)
    with pytest.raises(ValueError, match="no 'gpt' architecture"):
        default_config("dates", "gpt")
    assert recipe_config("addition-gru") == {**RECIPES["addition-gru"], "name": "addition-gru-dash"}
    with pytest.raises(ValueError, match="unknown recipe 'nope'"):
        recipe_config("nope")


def test_output_folder_refuses_the_shipped_checkpoints(root, tmp_path):
    assert output_folder("") == root / "runs/dashboard"
    assert output_folder("runs/x") == root / "runs/x"
    assert output_folder(str(tmp_path)) == tmp_path.resolve()
    for bad in ("checkpoints", "checkpoints/sub", str(root / "checkpoints")):
        with pytest.raises(ValueError, match="read-only"):
            output_folder(bad)


def test_cli_command_parses_back_to_the_same_options():
    cfg = {**default_config("addition", "gru-attn"), "ss_schedule": "linear", "ss_k": 1.0, "ss_c": 0.002,
           "ss_sample": True, "label_smoothing": 0.1}
    line = cli_command(cfg, "runs/my runs")
    parser = argparse.ArgumentParser()
    add_parsers(parser.add_subparsers(dest="command"))
    args = parser.parse_args(shlex.split(line.replace("\\\n", ""))[3:])
    assert args.command == "train" and args.out == "runs/my runs" and args.ss_sample
    for key in ("name", "task", "arch", "steps", "lr", "ss_schedule", "ss_k", "ss_c", "label_smoothing", "warmup"):
        assert getattr(args, key) == cfg[key], key
