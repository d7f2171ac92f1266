"End-to-end checks of the engine on real and synthetic data, in a real process (signals need the main thread)."
import json
from pathlib import Path
import os
import signal
import threading

import numpy as np
import pandas as pd
import pytest

from mltrain_nb import DataError, ConfigError, MLTrainError, ModelIntegrityError, ModelNotFoundError, UnknownAlgorithmError
from mltrain_nb.engine import MLTrainingEngine, TrainResult
from mltrain_nb.events import FoldDone, IterationDone, ModelDone, TrainingFinished, TrainingStarted


OFF = {"enabled": False}   # tracking has its own tests (test_tracking.py); these stay quick without a store


def engine(**kw):
    kw.setdefault("cv", 3)
    kw.setdefault("tracking", OFF)
    return MLTrainingEngine(progress=False, **kw)


# ---- each task end to end -------------------------------------------------------------------------

def test_classification_string_labels_end_to_end(iris_df, tmp_path):
    events = []
    eng = MLTrainingEngine(cv=3, callbacks=[events.append], tracking=OFF)
    result = eng.compare(iris_df, "species", models=["logistic_regression", "random_forest", "xgboost", "lightgbm", "svm"])
    assert isinstance(result, TrainResult) and result.task == "classification"
    board = result.leaderboard
    assert list(board["cv_accuracy"]) == sorted(board["cv_accuracy"], reverse=True)
    assert board["cv_accuracy"].min() > 0.85 and board["test_accuracy"].min() > 0.8
    assert (board[["fit_time", "predict_time"]] > 0).all().all()
    # labels out are the labels in, for every model, including xgboost's encoded one
    for name in result.results:
        assert set(eng.predict(iris_df, name)) == {"setosa", "versicolor", "virginica"}
    # events: one start, one fold per model and fold, one model-done per model, one finish
    kinds = [type(e) for e in events]
    assert kinds[0] is TrainingStarted and kinds[-1] is TrainingFinished
    assert kinds.count(FoldDone) == 5 * 3 and kinds.count(ModelDone) == 5
    # save, reload in a fresh engine, same predictions
    path = eng.save_model(result.best_model_name, tmp_path)
    fresh = engine()
    fresh.load_model(path)
    assert (fresh.predict(iris_df) == eng.predict(iris_df, result.best_model_name)).all()


def test_binary_classification_synthetic(quiet):
    from sklearn.datasets import make_classification
    X, y = make_classification(n_samples=400, n_features=8, n_informative=4, random_state=0)
    X = pd.DataFrame(X, columns=[f"f{i}" for i in range(8)])
    y = pd.Series(np.where(y == 1, "yes", "no"))
    res = engine().train_model(X, y, "lightgbm")
    assert res["metrics"]["roc_auc"] > 0.85 and 0 < res["cv_mean"] <= 1 and res["cv_std"] >= 0
    assert set(res["feature_importance"]) == {f"num__f{i}" for i in range(8)}


def test_regression_end_to_end(quiet):
    from sklearn.datasets import load_diabetes
    d = load_diabetes(as_frame=True)
    eng = engine()
    result = eng.compare(d.data, d.target, models=["ridge", "random_forest", "xgboost"])
    assert result.task == "regression" and result.metric == "r2"
    assert result.leaderboard.loc["ridge", "cv_r2"] > 0.35
    assert {"cv_rmse", "cv_mae", "cv_mape", "cv_explained_variance"} <= set(result.leaderboard)
    pred = eng.predict(d.data.head(5))
    assert pred.dtype.kind == "f" and len(pred) == 5


def test_regression_metric_lower_is_better_sorts_ascending(quiet):
    from sklearn.datasets import make_regression
    X, y = make_regression(n_samples=200, n_features=5, noise=5, random_state=0)
    result = engine(metric="rmse").compare(pd.DataFrame(X).add_prefix("c"), y, models=["linear_regression", "decision_tree"])
    assert list(result.leaderboard["cv_rmse"]) == sorted(result.leaderboard["cv_rmse"])
    assert result.best_model_name == "linear_regression"


def test_clustering_without_target(quiet):
    from sklearn.datasets import make_blobs
    X, _ = make_blobs(n_samples=300, centers=3, random_state=0)
    eng = engine()
    result = eng.compare(pd.DataFrame(X, columns=["a", "b"]), models=["kmeans", "dbscan", "hierarchical"])
    assert result.task == "clustering"
    assert result.leaderboard.loc["kmeans", "cv_silhouette"] > 0.4
    assert set(eng.predict(pd.DataFrame(X[:10], columns=["a", "b"]), "kmeans")) <= {0, 1, 2}
    with pytest.raises(DataError, match="cannot assign new rows"):
        eng.predict(pd.DataFrame(X[:10], columns=["a", "b"]), "dbscan")


def test_mixed_types_datetime_pandas_strings_and_temporal_cv(quiet):
    rng = np.random.default_rng(0)
    n = 300
    df = pd.DataFrame({
        "when": pd.date_range("2023-01-01", periods=n, freq="D"),
        "amount": rng.normal(100, 20, n),
        "shop": pd.Series(rng.choice(["a", "b", "c", None], n), dtype="str"),
        "member": rng.choice([True, False], n),
        "cat": pd.Categorical(rng.choice(["x", "y"], n)),
    })
    df["spend"] = df["amount"] * 2 + (df["shop"] == "a") * 30 + rng.normal(0, 5, n)
    eng = engine(split={"strategy": "temporal", "time_column": "when"})
    res = eng.train_model(df, "spend", "ridge")
    assert res["metrics"]["r2"] > 0.8
    X_test, _ = eng.holdout["ridge"]
    assert X_test["when"].min() > df["when"].iloc[: len(df) - len(X_test)].max()   # test rows are the latest


def test_group_split_keeps_groups_apart(quiet):
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"user": np.repeat(np.arange(30), 5), "x": rng.normal(size=150)})
    df["y"] = df["x"] * 3 + rng.normal(size=150)
    eng = engine(split={"strategy": "group", "group_column": "user"})
    res = eng.train_model(df, "y", "ridge")
    assert "user" not in res["features"]


def test_high_cardinality_column_stays_bounded(quiet):
    n = 100_000
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"id": [f"id{i}" for i in range(n)], "x": rng.normal(size=n)})
    df["y"] = (df["x"] > 0).map({True: "pos", False: "neg"})
    eng = engine(cv=2, preprocess={"max_categories": 16})
    res = eng.train_model(df, "y", "logistic_regression")
    width = res["model"][:-1].transform(df.head(3).drop(columns="y")).shape[1]
    assert width == 1 + 16   # one numeric column + at most 16 one-hot columns, not 100,000


# ---- bad input: one clear error, nothing changed -------------------------------------------------

@pytest.mark.parametrize("call, error, message", [
    (lambda e, X, y: e.train_model(X, y, "random_forrest"), UnknownAlgorithmError, "Did you mean 'random_forest'"),
    (lambda e, X, y: e.train_model(X, y.iloc[:20], "decision_tree"), DataError, "same length"),
    (lambda e, X, y: e.train_model(X.iloc[:0], y.iloc[:0], "decision_tree"), DataError, "empty"),
    (lambda e, X, y: e.train_model(X, pd.Series("a", index=X.index), "decision_tree"), DataError, "single class"),
    (lambda e, X, y: e.train_model(X.assign(big=np.inf), y, "decision_tree"), DataError, "infinite"),
    (lambda e, X, y: e.train_model(X.assign(a=np.nan, b=1.0).drop(columns=list(X.columns)), y, "decision_tree"),
     DataError, "nothing is left"),
    (lambda e, X, y: e.train_model(X.assign(species=y), "specis", "decision_tree"), DataError, "did you mean 'species'"),
])
def test_bad_input_raises_one_clear_error_and_changes_nothing(iris_df, call, error, message, quiet):
    eng = engine()
    eng.train_model(iris_df, "species", "decision_tree")
    before = dict(eng.models)
    X, y = iris_df.drop(columns="species"), iris_df["species"]
    with pytest.raises(error, match=message) as info:
        call(eng, X, y)
    assert isinstance(info.value, MLTrainError)
    assert eng.models == before


def test_float_target_for_classification_is_refused(iris_df):
    with pytest.raises(DataError, match="regression target"):
        engine(task="classification").train_model(iris_df.drop(columns="species"), iris_df["sepal length (cm)"] + 0.01)


def test_constant_columns_dropped_with_warning(iris_df):
    with pytest.warns(UserWarning, match="'const'"):
        res = engine().train_model(iris_df.assign(const=1, empty=np.nan), "species", "decision_tree")
    assert "const" not in res["features"] and "empty" not in res["features"]


def test_missing_target_rows_dropped_with_count(iris_df):
    y = iris_df["species"].where(iris_df.index % 5 != 0)
    with pytest.warns(UserWarning, match="Dropped 30 training rows"):
        res = engine().train_model(iris_df.drop(columns="species"), y, "decision_tree")
    assert res["n_train"] + res["n_test"] == 120


def test_predict_columns_missing_extra_and_unseen(iris_df, quiet):
    eng = engine()
    eng.train_model(iris_df, "species", "logistic_regression")
    X = iris_df.drop(columns="species")
    with pytest.raises(DataError, match=r"lacks 1 column.*'color'"):
        eng.predict(X.drop(columns="color"))
    assert len(eng.predict(X.assign(unused="z"))) == len(X)                     # extra columns ignored
    assert len(eng.predict(X.assign(color="ultraviolet"))) == len(X)            # unseen category handled
    with pytest.raises(ModelNotFoundError, match="Did you mean 'logistic_regression'"):
        eng.predict(X, "logistic_regresion")


def test_unknown_config_key_names_closest():
    with pytest.raises(ConfigError, match="Did you mean 'test_size'"):
        MLTrainingEngine({"split": {"tst_size": 0.3}}, tracking=OFF)


# ---- saving ----------------------------------------------------------------------------------------

def test_save_is_atomic_and_load_verifies_hash(iris_df, tmp_path, monkeypatch, quiet):
    import joblib
    eng = engine()
    eng.train_model(iris_df, "species", "xgboost")
    path = eng.save_model("xgboost", tmp_path)
    assert isinstance(path, str)                                       # spec 000: the path as a string
    path = Path(path)
    meta = json.loads(path.with_suffix(".json").read_text())
    assert {"algorithm", "params", "metrics", "features", "classes", "versions", "training_rows", "sha256"} <= set(meta)
    # a failing write leaves nothing behind
    def broken_dump(obj, f): open(f, "wb").write(b"partial"); raise OSError("disk full")
    monkeypatch.setattr(joblib, "dump", broken_dump)
    with pytest.raises(OSError):
        eng.save_model("xgboost", tmp_path / "other")
    assert not list((tmp_path / "other").glob("*"))
    monkeypatch.undo()
    with pytest.raises(ModelNotFoundError):
        engine().load_model(tmp_path / "missing.joblib")
    path.write_bytes(path.read_bytes() + b"x")
    with pytest.raises(ModelIntegrityError, match="checksum"):
        engine().load_model(path)


# ---- signals ---------------------------------------------------------------------------------------

def test_first_sigint_stops_after_the_fold_and_keeps_finished_models(iris_df):
    def interrupt(event):
        if isinstance(event, ModelDone): os.kill(os.getpid(), signal.SIGINT)
    eng = MLTrainingEngine(cv=3, callbacks=[interrupt], tracking=OFF)
    result = eng.compare(iris_df, "species", models=["logistic_regression", "decision_tree", "knn"])
    assert result.interrupted and list(result.results) == ["logistic_regression"]


def test_a_sigint_after_the_last_fold_reaches_the_caller(iris_df):
    # nothing reads a stop asked for after the call's last fold boundary: the caller gets the interrupt, the model is kept
    def interrupt(event):   # to the main thread itself: os.kill may wake another thread, and the handler runs later
        if isinstance(event, ModelDone): signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
    # the caller's handler: Python's own (a job started with `&` from a script inherits SIGINT ignored, and then the
    # engine rightly hands the signal to that)
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        eng = MLTrainingEngine(cv=3, callbacks=[interrupt], tracking=OFF)
        with pytest.raises(KeyboardInterrupt):
            eng.train_model(iris_df, "species", "decision_tree")
        assert list(eng.models) == ["decision_tree"] and signal.getsignal(signal.SIGINT) == signal.default_int_handler
    finally: signal.signal(signal.SIGINT, before)


def test_sigterm_is_graceful_too(iris_df):
    def term(event):
        if isinstance(event, FoldDone) and event.fold == 1: os.kill(os.getpid(), signal.SIGTERM)
    eng = MLTrainingEngine(cv=3, callbacks=[term], tracking=OFF)
    result = eng.compare(iris_df, "species", models=["decision_tree", "knn"])
    assert result.interrupted and result.results == {}


def test_handlers_live_only_while_training_and_threads_install_none(iris_df):
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    during = []
    eng = MLTrainingEngine(cv=2, callbacks=[lambda e: during.append(signal.getsignal(signal.SIGINT))], tracking=OFF)
    assert signal.getsignal(signal.SIGINT) == before[0]          # an idle engine holds no handler
    eng.train_model(iris_df, "species", "decision_tree")
    assert during and all(h == eng._on_signal for h in during)
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    eng.shutdown()
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    box = {}
    def work():
        e = MLTrainingEngine(cv=2, callbacks=[lambda ev: box.setdefault("h", signal.getsignal(signal.SIGINT))], tracking=OFF)
        box["res"] = e.train_model(iris_df, "species", "decision_tree")
    t = threading.Thread(target=work)
    t.start(); t.join()
    assert box["res"]["model_name"] == "decision_tree" and box["h"] == before[0]


def test_iteration_events_for_boosting_with_validation(iris_df, quiet):
    events = []
    eng = MLTrainingEngine(cv=2, callbacks=[events.append], early_stopping={"enabled": True, "patience": 5}, tracking=OFF)
    X, y = iris_df.drop(columns="species"), iris_df["species"]
    for algo in ("xgboost", "lightgbm"):
        res = eng.train_model(X, y, algo, X_val=X.iloc[::3], y_val=y.iloc[::3])
        its = [e for e in events if isinstance(e, IterationDone) and e.model == algo]
        assert its and its[0].train_loss is not None and its[0].valid_loss is not None
        assert len(res["training_history"]) == len(its)
        assert res["best_iteration"] is not None and len(its) < 200   # early stopping cut it short
