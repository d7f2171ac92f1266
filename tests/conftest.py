import warnings

import numpy as np
import pandas as pd
import pytest


@pytest.fixture
def iris_df():
    "Iris with string labels, some missing values and a string categorical column."
    from sklearn.datasets import load_iris
    iris = load_iris(as_frame=True)
    df = iris.frame.drop(columns="target")
    df["species"] = iris.target.map(dict(enumerate(iris.target_names)))
    df.loc[::7, "sepal width (cm)"] = np.nan
    df["color"] = pd.Series(np.where(df.index % 3 == 0, "red", "blue"), dtype="str").where(df.index % 11 != 0)
    return df


@pytest.fixture
def quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.fixture(autouse=True)
def _in_tmp_dir(tmp_path, monkeypatch):
    "Every test runs in its own folder, so the default tracking store (./experiments) never leaks between tests."
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true", default=False,
                     help="also run tests marked slow (e.g. spec 001's SDK example verbatim, 100 Optuna trials: ~6 min on 2 cores)")


def pytest_collection_modifyitems(config, items):
    "Tests marked `slow` run only with --slow, so the everyday suite stays well under its time budget."
    if config.getoption("--slow"): return
    skip = pytest.mark.skip(reason="slow: run with --slow")
    for item in items:
        if "slow" in item.keywords: item.add_marker(skip)
