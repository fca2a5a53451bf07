"""Validation of params.yaml: every problem reported at once, with the fix."""

from __future__ import annotations

import copy
import math
import time

import numpy as np
import pytest
from dvc.exceptions import InvalidArgumentError
from dvc.utils.hydra import apply_overrides

import stages.train
from mlp import MLP, load_model, save_model
from stages.common import params as params_module
from stages.common.params import ParamsError, architecture_settings, load_params, validate
from tests.support import PROJECT
from tests.support import yaml12 as yaml
from tests.support.stages import failing_stage, params_text, snapshot, tiny_params
from tools.experiment import overrides

PROJECT_PARAMS = PROJECT / "params.yaml"


@pytest.fixture
def params() -> dict:
    return yaml.safe_load(PROJECT_PARAMS.read_text())


def test_project_params_are_valid():
    # The committed params.yaml passes its own validation.
    load_params(PROJECT_PARAMS)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "not found"),
        ("", "must be a mapping"),
        ("- a\n- b\n", "must be a mapping"),
        ("prepare: [\n", "not valid YAML"),
        # Was a RecursionError traceback: nesting is bounded (YAML().max_depth), as for JSON.
        ("train: " + "[" * 100_000 + "]" * 100_000, "nests YAML more than 32 levels deep"),
    ],
)
def test_unreadable_params_file(tmp_path, text, message):
    # A missing, empty, non-mapping or malformed params.yaml is one clear ParamsError.
    path = tmp_path / "params.yaml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(ParamsError, match=message):
        load_params(path)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda p: p.pop("train"), "train: missing section"),
        (lambda p: p.update(train=5), "train: must be a mapping of keys to values, got 5 (int)"),
        (
            lambda p: p["train"].update(epochs="3"),
            "got '3' (str) (YAML reads '3' as text: remove the quotes)",
        ),
        (lambda p: p["train"].update(epochs=0), "train.epochs: must be at least 1"),
        (lambda p: p["train"].update(learnig_rate=0.1), "did you mean 'learning_rate'"),
        (lambda p: p.update(trian={}), "did you mean 'train'"),
        (lambda p: p["train"].update(learning_rate="1e-3"), "YAML reads '1e-3' as text: remove the quotes"),
        (lambda p: p["train"].update(epochs=True), "train.epochs: must be an integer"),
        (lambda p: p["train"].update(epochs=10.0), "train.epochs: must be an integer"),
        (lambda p: p["train"].update(batch_size=0), "train.batch_size: must be at least 1"),
        (lambda p: p["train"].update(learning_rate=0), "train.learning_rate: must be a finite number"),
        (lambda p: p["train"].update(learning_rate=math.nan), "train.learning_rate: must be a finite number"),
        (lambda p: p["train"].update(learning_rate=math.inf), "finite number in (0, inf), got inf"),
        (lambda p: p["train"].update(momentum=1.0), "train.momentum: momentum must lie in [0, 1), got 1.0"),
        (
            lambda p: p["architectures"]["deep"].update(beta2=1.5),
            "architectures.deep.beta2: beta2 must lie in [0, 1)",
        ),
        (lambda p: p["train"].update(weight_decay=-0.1), "train.weight_decay: must be a finite number"),
        (lambda p: p["train"].update(dropout=1.0), "train.dropout: must be a finite number"),
        (
            lambda p: p["train"].update(elastic_alpha=-1.0),
            "train.elastic_alpha: must be a finite number in [0",
        ),
        (
            lambda p: p["train"].update(elastic_sigma=0),
            "train.elastic_sigma: must be a finite number in (0, inf)",
        ),
        (
            lambda p: p["train"].update(rotate_degrees=180),
            "train.rotate_degrees: must be a finite number in [0, 90]",
        ),
        (lambda p: p["prepare"].update(test_fraction=1.0), "prepare.test_fraction: must be a finite number"),
        (lambda p: p["prepare"].update(test_fraction=0), "prepare.test_fraction: must be a finite number"),
        (lambda p: p["prepare"].update(subset=70000), "prepare.subset: must be at least 1 and at most 60000"),
        (
            lambda p: p["train"].update(activation="relux"),
            "choose from ['leaky_relu', 'relu', 'sigmoid', 'tanh']",
        ),
        (
            lambda p: p["train"].update(optimizer="rmsprop"),
            "choose from ['adam', 'momentum', 'nesterov', 'sgd']",
        ),
        (lambda p: p["train"].update(schedule="linear"), "choose from ['constant', 'cosine', 'step']"),
        (lambda p: p["train"].update(init="xavier"), "choose from ['glorot', 'he']"),
        (lambda p: p.update(architectures={}), "architectures: must map at least one name"),
        (lambda p: p["architectures"].update(wide={"hidden_sizes": []}), "architectures.wide.hidden_sizes"),
        (lambda p: p["architectures"].update(wide={"hidden_sizes": [0]}), "positive integers only"),
        (lambda p: p["architectures"].update(wide={"hidden_sizes": [12.5]}), "positive integers only"),
        (lambda p: p["architectures"].update(wide={"hidden_sizes": ["128"]}), "positive integers only"),
        (lambda p: p.update(seeds=42), "seeds: must be a non-empty list of seeds"),
        (lambda p: p.update(seeds=[]), "seeds: must be a non-empty list of seeds"),
        (lambda p: p.update(seeds=[1, -2]), "seeds: each seed must be at least 0"),
        (lambda p: p.update(seeds=[7, 7]), "seeds: holds a seed twice: [7, 7]"),
        (lambda p: p.pop("seeds"), "seeds: missing section"),
        (lambda p: p["train"].update(seed=1), "train.seed: unknown key"),
        (lambda p: p["prepare"].update(seed=1), "prepare.seed: unknown key"),
        (lambda p: p.update(epochs=5), "epochs: unknown key; valid keys: ['architectures', 'prepare'"),
        (
            lambda p: p["architectures"].update(huge={"hidden_sizes": [10_000_000]}),
            "architectures.huge: hidden_sizes [10000000] need about",  # refused before any allocation
        ),
        (lambda p: p["architectures"].update(wide={}), "architectures.wide.hidden_sizes: missing"),
        (lambda p: p["architectures"].update({"../evil": {"hidden_sizes": [8]}}), "is used in file names"),
        (lambda p: p["architectures"]["deep"].update(learnig_rate=1), "did you mean 'learning_rate'"),
        (
            lambda p: p["architectures"]["deep"].update(optimizer="momentum", momentum=0.0),
            "architectures.deep: optimizer 'momentum' with momentum 0 is plain SGD",
        ),
    ],
)
def test_each_invalid_value_is_named_with_its_fix(params, edit, expected):
    # Each kind of bad value yields a message naming the key and what would be valid.
    edit(params)
    problems = validate(params)
    assert any(expected in problem for problem in problems), problems


def test_every_problem_is_reported_at_once(params, tmp_path):
    # Several mistakes give one error listing all of them, not the first only.
    params["train"]["epochs"] = 0
    params["train"]["optimizer"] = "sgdd"
    params["prepare"]["scaling"] = "minmax"
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    with pytest.raises(ParamsError) as caught:
        load_params(path)
    message = str(caught.value)
    assert "3 problem(s)" in message
    assert all(key in message for key in ("train.epochs", "train.optimizer", "prepare.scaling"))


def test_architecture_overrides_the_common_section(params):
    # An architecture's own keys win over the train section; others are inherited.
    params = copy.deepcopy(params)
    params["architectures"]["deep"]["learning_rate"] = 0.05
    settings = architecture_settings(params, "deep")
    assert settings["learning_rate"] == 0.05
    assert settings["epochs"] == params["train"]["epochs"]
    assert settings["hidden_sizes"] == [256, 128, 64, 32]
    with pytest.raises(ParamsError, match="unknown architecture 'huge'"):
        architecture_settings(params, "huge")


def test_params_written_by_yaml_dump_round_trip(params, tmp_path):
    # params.yaml stays valid and equal after a YAML round trip (as `dvc exp run -S` rewrites it).
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    loaded = load_params(path)
    path.write_text(yaml.safe_dump(loaded))
    assert load_params(path) == loaded == params


@pytest.mark.parametrize(
    ("stage", "section", "key", "message"),
    [
        ("prepare", "prepare", "test_fraction", "prepare.test_fraction: must be a finite number in (0, 1)"),
        ("train", "train", "epochs", "train.epochs: must be at least 1"),
        ("report", "train", "epochs", "train.epochs: must be at least 1"),
    ],
)
def test_bad_params_stop_a_stage_before_it_touches_anything(workspace, capsys, stage, section, key, message):
    # A stage validates what it reads before it touches anything: prepare its section (so its deps
    # leave mlp's tables out), the others all of params.yaml (the cases above), as check does.
    params = tiny_params()
    params[section][key] = 0
    (workspace / "params.yaml").write_text(params_text(params))
    before = snapshot(workspace)
    assert message in failing_stage(stage, capsys)
    assert snapshot(workspace) == before


def test_params_changed_during_a_run_keep_every_output(workspace, capsys, monkeypatch):
    # A `dvc exp run -S` while a stage trains rewrites params.yaml: the stage must not write results
    # that DVC would then record under the new values. It fails, naming the file; nothing changes.
    real_train_model = stages.train.train_model

    def train_while_params_change(*args, **kwargs):
        (workspace / "params.yaml").write_text(params_text(tiny_params(epochs=2)))
        return real_train_model(*args, **kwargs)

    monkeypatch.setattr(stages.train, "train_model", train_while_params_change)
    before = snapshot(workspace)
    message = failing_stage("train", capsys)
    assert "params.yaml changed while this stage ran" in message and "nothing was written" in message
    assert {path: data for path, data in snapshot(workspace).items() if path != "params.yaml"} == {
        path: data for path, data in before.items() if path != "params.yaml"
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("learning_rate: 1e-3", 0.001),  # YAML 1.2, as DVC reads it (PyYAML would give a string)
        ("learning_rate: 1.0e-3", 0.001),
        ("learning_rate: .5", 0.5),
    ],
)
def test_numbers_are_read_as_dvc_reads_them(params, tmp_path, text, expected):
    # The value a stage trains with is the value DVC records in dvc.lock: both read YAML 1.2.
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False).replace("learning_rate: 0.1", text))
    assert load_params(path)["train"]["learning_rate"] == expected


def test_a_duplicate_key_is_refused_with_its_line(params, tmp_path):
    # DVC refuses a params.yaml with a key twice; so do we, naming the key and the line.
    path = tmp_path / "params.yaml"
    text = yaml.safe_dump(params, sort_keys=False)
    path.write_text(text.replace("  epochs: 100\n", "  epochs: 100\n  epochs: 5\n"))
    with pytest.raises(ParamsError, match=r'duplicate key "epochs".* at line \d+; keep one of them'):
        load_params(path)


@pytest.mark.parametrize(
    ("prepare", "architecture", "message"),
    [
        (
            {"validation_size": 7999},
            {},
            "train.batch_size: 32 is larger than the 1 training images prepare gives (prepare.subset "
            "10000, less 2000 for testing at prepare.test_fraction 0.2, less 7999 held out by "
            "prepare.validation_size); set it to at most 1, or set prepare.validation_size to at most 7968",
        ),
        (
            {},
            {"batch_size": 9000},
            "architectures.deep.batch_size: 9000 is larger than the 8000 training images prepare gives "
            "(prepare.subset 10000, less 2000 for testing at prepare.test_fraction 0.2)",
        ),
    ],
    ids=["shared batch, large validation set", "one architecture's batch"],
)
def test_a_batch_larger_than_the_training_set_names_its_key_once_and_how_the_images_are_counted(
    params, prepare, architecture, message
):
    params["prepare"].update(prepare)
    params["architectures"]["deep"].update(architecture)
    problems = validate(params)
    assert len(problems) == 1 and problems[0].startswith(message), problems


def test_an_alias_bomb_gives_a_short_message_without_walking_it(params, tmp_path):
    # 894 bytes of nested YAML aliases stand for 10**9 values: the message quotes a few, not gigabytes.
    levels = ["a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    levels += [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]" for i in range(8)]
    text = "bomb:\n" + "".join(f"  {line}\n" for line in levels) + yaml.safe_dump(params, sort_keys=False)
    text = text.replace("  hidden_sizes:\n    - 128\n    - 64\n", "  hidden_sizes: *i\n", 1)
    path = tmp_path / "params.yaml"
    path.write_text(text)
    started = time.monotonic()
    with pytest.raises(ParamsError) as caught:
        load_params(path)
    assert (
        time.monotonic() - started < 60
    )  # a hang guard, not a speed target: walking 10**9 values takes hours
    assert len(str(caught.value)) < 2000 and "hidden_sizes: must hold positive integers only" in str(
        caught.value
    )


def test_a_too_large_batch_is_one_problem_not_blamed_on_hidden_sizes(params):
    # issue 20: a batch of 10**9 gave four problems, three of them "use smaller hidden_sizes" (the
    # memory estimate used the batch); the memory rule now counts at most the training set.
    params["train"]["batch_size"] = 10**9
    problems = validate(params)
    assert len(problems) == 1 and problems[0].startswith("train.batch_size: 1000000000 is larger"), problems
    params["prepare"]["validation_size"] = 8000  # no training images: one problem, prepare's
    assert len(problems := validate(params)) == 1 and problems[0].startswith("prepare.validation_size"), (
        problems
    )
    params["prepare"]["validation_size"] = 0
    params["train"]["batch_size"] = 32
    params["architectures"]["deep"]["hidden_sizes"] = [100_000, 100_000]
    params["architectures"]["deep"]["batch_size"] = 10**9  # both wrong: each key named once
    problems = validate(params)
    assert len(problems) == 2 and "deep.batch_size" in problems[0] and "hidden_sizes" in problems[1], problems


def test_the_deepest_network_check_allows_is_saved_and_one_layer_more_is_refused(params, tmp_path):
    # issue 20: 300 hidden layers passed check, trained in full, then failed at save naming no key.
    # The limit is the model file's (mlp.persistence.MAX_LAYERS layers, the output layer included).
    deepest = [1] * 255
    params["architectures"]["deep"]["hidden_sizes"] = deepest
    assert validate(params) == []
    model = MLP([784, *deepest, 10], np.random.default_rng(0))
    save_model(model, tmp_path / "deepest.npz")
    assert load_model(tmp_path / "deepest.npz")[0].layer_sizes == model.layer_sizes
    params["architectures"]["deep"]["hidden_sizes"] = [*deepest, 1]
    assert validate(params) == [
        "architectures.deep.hidden_sizes: holds 256 hidden layers; a model file holds at most 256 layers, "
        "the output layer included: use at most 255 hidden layers"
    ]
    with pytest.raises(ValueError, match="load_model accepts at most 256 layers"):
        save_model(MLP([784, *deepest, 1, 10], np.random.default_rng(0)), tmp_path / "deeper.npz")


@pytest.mark.parametrize("name", ["2layer", "9"])
def test_an_architecture_name_that_dvc_exp_run_cannot_override_is_refused(params, name):
    # issue 20: `2layer` passed check, but `dvc exp run -S architectures.2layer...` refuses it.
    params["architectures"][name] = {"hidden_sizes": [8]}
    assert any(
        problem.startswith(f"architectures.{name}: the name is used in file names and in `dvc exp run -S")
        and "start with a letter" in problem
        for problem in validate(params)
    ), validate(params)


@pytest.mark.parametrize("name", ["2layer", "wide", "l2_x-3", "Deep9-", "true"])
def test_every_architecture_name_check_accepts_dvc_exp_run_can_override(params, tmp_path, name):
    # The overrides tools.experiment builds to add, change and remove architecture `name`, applied
    # by DVC's own `-S` code (dvc.utils.hydra, Hydra's grammar): each applies if check accepts the
    # name; DVC refuses `2layer` in all three, and so does check. (Check also refuses all-digit
    # names, which Hydra reads as list indexes but DVC happens to take: a name starts with a letter.)
    with_name = copy.deepcopy(params)
    with_name["architectures"][name] = {"hidden_sizes": [8]}
    changed = copy.deepcopy(with_name)
    changed["architectures"][name] = {"hidden_sizes": [9], "epochs": 3}
    accepted = validate(with_name) == []
    for base, target in ((params, with_name), (with_name, changed), (with_name, params)):
        path = tmp_path / "params.yaml"
        path.write_text(params_text(base))
        try:
            apply_overrides(path, overrides(base, target))
        except InvalidArgumentError:
            assert not accepted, f"check accepts {name!r}, but DVC refuses {overrides(base, target)}"
        else:
            assert accepted, f"check refuses {name!r}, which DVC takes"
            assert yaml.safe_load(path.read_text()) == target


@pytest.mark.parametrize("name", ["deep\n", "deep\nx", " deep", "dé"])
def test_an_architecture_name_must_match_entirely(params, name):
    # Names go into file names: the whole name must be letters, digits, '_' or '-' (no trailing newline).
    params["architectures"][name] = {"hidden_sizes": [8]}
    assert any("is used in file names" in problem for problem in validate(params))


def test_threads_beyond_the_machines_cores_are_refused(params, monkeypatch):
    # More BLAS threads than cores only slows training (400x seen): refused, naming the cores.
    monkeypatch.setattr(params_module, "CORES", 2)
    params["train"]["threads"] = 64
    assert any("more than this machine's 2 cores" in problem for problem in validate(params))
