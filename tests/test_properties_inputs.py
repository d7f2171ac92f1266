"""Property-based tests (Hypothesis) of what users type and pass: config dicts and YAML, `%%train` lines and
bodies, and the rows given to `predict` / `predict_single`. Each property: a valid input works, any other is
one line of the package's typed errors (a plain `UsageError` in the magics), never a traceback.

Bounded and replayable: a fixed number of examples, no deadline, derandomized (the same examples every run),
and a failing example is printed with the blob that reproduces it (`@reproduce_failure`)."""
import math
import warnings

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError

from mltrain_nb.config import TrainConfig, load_yaml
from mltrain_nb.errors import ConfigError, MLTrainError

BOUNDED = dict(deadline=None, derandomize=True, print_blob=True, database=None,
               suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# ---- values a user may write in a config: scalars of every kind, and lists/dicts of them ------------------------
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=12), st.sampled_from(["all", "xgboost", "random_forest", "stratified", "-1", "0.2"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                        st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=8)
NESTED = {name: list(f.annotation.model_fields) for name, f in TrainConfig.model_fields.items()
          if isinstance(f.annotation, type) and hasattr(f.annotation, "model_fields")}
SPEC004 = {"data_split": ["train_ratio", "val_ratio", "test_ratio", "stratify", "random_state"],
           "cross_validation": ["n_folds", "shuffle", "scoring"],
           "hyperparameter_tuning": ["method", "cv", "n_iter", "n_trials"]}
keys = st.sampled_from([*TrainConfig.model_fields, *SPEC004])


@st.composite
def config_dicts(draw):
    "Dicts shaped like configs: real keys (and near misses), nested blocks with their real keys, any values."
    d = {}
    for key in draw(st.lists(st.one_of(keys, st.text(max_size=6), st.integers(0, 3)), max_size=5)):
        sub = NESTED.get(key) or SPEC004.get(key)
        if sub and draw(st.booleans()):
            d[key] = draw(st.dictionaries(st.one_of(st.sampled_from(sub), st.text(max_size=5)), values, max_size=3))
        else:
            d[key] = draw(values)
    return d


def one_line(e: Exception) -> bool:
    return "\n" not in str(e) and 0 < len(str(e)) < 2000


@settings(max_examples=150, **BOUNDED)
@given(config_dicts())
def test_config_dicts_build_or_say_what_is_wrong_in_one_line(d):
    try: cfg = TrainConfig.from_dict(d)
    except ConfigError as e: assert one_line(e), str(e)
    else: assert TrainConfig.from_dict(cfg.model_dump()) == cfg   # a built config round-trips


@settings(max_examples=100, **BOUNDED)
@given(st.one_of(config_dicts().map(lambda d: yaml.safe_dump(d, allow_unicode=True)),
                 st.text(alphabet=st.sampled_from(list("ab:{}[]-&*!|>'\"#%\n\t 1.?,@`")), max_size=60)))
def test_yaml_text_builds_or_is_one_config_error(text):
    try: data = load_yaml(text)
    except ConfigError as e:
        assert one_line(e), str(e)
        return
    try: TrainConfig.from_dict(data)
    except ConfigError as e: assert one_line(e), str(e)


@settings(max_examples=40, **BOUNDED)
@given(st.integers(2, 6), st.integers(2, 6))
def test_alias_expansion_is_bounded(levels, width):
    "Nested aliases expand to width**levels values: refused past the bound, read exactly below it."
    text = "a0: &a0 [x]\n" + "".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]\n" for i in range(1, levels + 1))
    try: data = load_yaml(text)
    except ConfigError as e: assert "aliases" in str(e) and width ** levels > 1000
    else:
        flat, stack = 0, [data[f"a{levels}"]]
        while stack:
            v = stack.pop()
            if isinstance(v, list): stack.extend(v)
            else: flat += 1
        assert flat == width ** levels


# ---- %%train lines and bodies ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shell():
    from IPython.testing.globalipapp import get_ipython
    ip = get_ipython()
    ip.run_line_magic("load_ext", "mltrain_nb")
    for setting in ("progress = False", "tracking = False", "panel = False", "cv = 2"):
        ip.run_line_magic("config", f"MLTrain.{setting}")
    rng = np.random.default_rng(0)
    ip.user_ns["pdf"] = pd.DataFrame({"x": rng.normal(size=40), "c": rng.choice(["u", "v"], 40),
                                      "y": np.tile(["no", "yes"], 20)})
    yield ip
    ip.run_line_magic("unload_ext", "mltrain_nb")
    ip.config.pop("MLTrain", None)


OPTIONS = st.sampled_from([
    "--task classification", "--task regression", "--task clasification", "--cv 3", "--cv 1", "--cv x",
    "--metric accuracy", "--metric rmse", "--metric f1_macro", "--test-size 0.3", "--test-size 2",
    "--test-size -0.1", "--models decision_tree", "--models knn,decision_tree", "--models randomforest",
    "--models ''", "--experiment e1", "--no-panel", "-o r31", "--folds 3", "--target", "--target nope",
    "--target y", "--target x", "--bogus", "--models decision_tree --models knn"])
BODIES = st.one_of(st.just(""), config_dicts().map(lambda d: yaml.safe_dump(d, allow_unicode=True)),
                   st.sampled_from(["split: {test_size: 0.5}", "model_params: {decision_tree: {max_depth: 2}}",
                                    "model_params: {dt: {max_depth: 2}}", "early_stopping: true",
                                    "feature_selection: {method: statistical}", "cv: [1]", "- a\n- b",
                                    "a: &x [*x]", "random_state: -5", "tracking: {enabled: true}"]))


@settings(max_examples=20, **BOUNDED)
@given(st.lists(OPTIONS, max_size=3), BODIES)
def test_train_lines_and_bodies_train_or_are_one_plain_usage_error(shell, options, body):
    body = body if "tracking" not in body else ""   # keep this test off the store
    line = " ".join(["pdf", "--target y", "--models decision_tree", *options])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try: result = (shell.run_cell_magic("train", line, body) if body.strip()
                       else shell.run_line_magic("train", line))
        except UsageError as e:
            assert type(e) is UsageError and one_line(e), (line, body, str(e))
            event("refused")
        else:
            assert result is not None and result.best_model_name
            event("trained")


# ---- rows given to predict / predict_single --------------------------------------------------------------------
@pytest.fixture(scope="module")
def predictor():
    from mltrain_nb.engine import MLTrainingEngine
    from mltrain_nb.inference import InferenceEngine
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"x": rng.normal(size=60), "n": rng.integers(0, 5, 60), "c": rng.choice(["u", "v"], 60)})
    y = pd.Series(np.where(X.x > 0, "yes", "no"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eng = MLTrainingEngine(cv=2, progress=False, tracking={"enabled": False})
        eng.train_model(X, y, "logistic_regression")
    return InferenceEngine(eng.models["logistic_regression"].model), X


cells = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**9, 10**9), st.none(),
                  st.booleans(), st.text(max_size=6), st.sampled_from(["u", "v", "1.5", "1e999", "nan"]),
                  st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
                  st.complex_numbers(max_magnitude=10, allow_nan=False))


@settings(max_examples=100, **BOUNDED)
@given(st.fixed_dictionaries({"x": cells, "n": cells, "c": cells}), st.booleans())
def test_predict_single_answers_or_names_the_bad_value(predictor, row, proba):
    ie, _ = predictor
    try: out = ie.predict_single(row, return_proba=proba)
    except MLTrainError as e:
        assert one_line(e), str(e)
        assert getattr(e, "column", None) in (None, "x", "n", "c")
        event(type(e).__name__)
    else:
        event("answered")
        label = out["prediction"] if proba else out
        assert label in ("yes", "no")
        if proba: assert 0.0 <= out["probability"] <= 1.0 and not math.isnan(out["probability"])


@settings(max_examples=60, **BOUNDED)
@given(st.lists(st.fixed_dictionaries({"x": cells, "n": cells, "c": cells}), min_size=0, max_size=4),
       st.sampled_from(["predict", "predict_proba", "predict_batch"]))
def test_predict_frames_answer_or_name_the_bad_value(predictor, rows, how):
    ie, X = predictor
    frame = pd.DataFrame(rows, columns=list(X.columns))
    try: out = getattr(ie, how)(frame)
    except MLTrainError as e: assert one_line(e), str(e)
    else:
        assert len(out) == len(frame) > 0
        if how == "predict_proba": assert np.isfinite(out).all()
