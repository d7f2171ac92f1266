"Tuning across real processes: two processes adding trials to one journal-file study, and trials on a Dask LocalCluster."
import multiprocessing as mp
import threading

import numpy as np
import pandas as pd
import pytest

SPACE = {"max_depth": {"int": [1, 8]}, "min_samples_leaf": {"int": [1, 30], "log": True}, "criterion": ["gini", "entropy"]}


def _data():
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import StratifiedKFold
    bc = load_breast_cancer(as_frame=True)
    X = bc.frame.drop(columns="target")
    y = pd.Series(np.asarray(bc.target_names)[bc.target], name="diagnosis")
    return X, y, list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y))


def _builder(X):
    from mltrain_nb.algorithms import make_estimator
    from mltrain_nb.data import build_preprocessor
    from mltrain_nb.tuning import PipelineBuilder
    return PipelineBuilder(make_estimator("decision_tree", "classification", random_state=0, n_jobs=1),
                           [("preprocess", build_preprocessor(X))])


def _tune_shared(storage: str, seed: int, start) -> None:
    "Run in a spawned process: 3 trials on the shared study."
    from mltrain_nb.config import TuneConfig
    from mltrain_nb.tuning import SearchData, SearchRun, run_optuna
    X, y, folds = _data()
    start.wait(timeout=60)       # both processes optimise at the same time
    out = run_optuna(TuneConfig(metric="accuracy", search_space=SPACE, n_trials=3, storage=storage,
                                study_name="shared"),
                     SearchData(_builder(X), X, y, folds, "classification"), SearchRun(random_state=seed))
    assert len(out.trials) >= 3


def test_two_processes_share_a_journal_study(tmp_path):
    import optuna
    from mltrain_nb.tuning import make_storage
    storage = f"journal:{tmp_path / 'study.log'}"
    ctx = mp.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=_tune_shared, args=(storage, seed, start)) for seed in (0, 1)]
    for p in procs: p.start()
    start.set()
    for p in procs: p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0]
    study = optuna.load_study(study_name="shared", storage=make_storage(storage))
    assert len(study.trials) == 6
    assert sorted(t.number for t in study.trials) == list(range(6))
    assert {t.state.name for t in study.trials} <= {"COMPLETE", "PRUNED"}


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as c:
        yield c


def test_dask_trials_run_on_the_cluster(cluster, tmp_path):
    from mltrain_nb.config import TuneConfig
    from mltrain_nb.tuning import SearchData, SearchRun, run_optuna, run_search
    X, y, folds = _data()
    data = SearchData(_builder(X), X, y, folds, "classification")
    on_cluster = dict(metric="accuracy", search_space=SPACE, dask_address=cluster.scheduler_address)
    seen = []
    out = run_optuna(TuneConfig(n_trials=4, **on_cluster), data, SearchRun(random_state=0, on_trial=seen.append))
    assert len(out.trials) == 4 and set(out.trials.state) <= {"COMPLETE", "PRUNED"}
    assert sorted(i["number"] for i in seen) == [0, 1, 2, 3]
    assert out.study.best_value == out.best_score > 0.85          # the study outlives the client
    assert len({tuple(sorted(p.items())) for p in out.trials["params"]}) == 4   # seeds differ per trial

    # a build that does not pickle (a closure over a lock) is rebuilt from its pipeline; a journal storage persists
    builder = _builder(X)
    lock = threading.Lock()
    def build(params):
        with lock: return builder(params)
    store = f"journal:{tmp_path / 'dask.log'}"
    kept = run_optuna(TuneConfig(**{**on_cluster, "metric": "f1"}, n_trials=2, storage=store, study_name="dask"),
                      SearchData(build, X, y, folds, "classification"), SearchRun(random_state=0))
    assert len(kept.trials) == 2 and kept.counts().get("COMPLETE", 0) >= 1

    # stop() halts the cluster's queue: the running trials finish, the others never start
    halted = run_optuna(TuneConfig(n_trials=12, **on_cluster), data, SearchRun(random_state=0, stop=lambda: True))
    assert halted.interrupted and 1 <= len(halted.trials) < 12

    # grid search folds through joblib's dask backend
    gs = run_search(_builder(X), X, y, folds, "classification", "accuracy", grid={"max_depth": [2, 4]},
                    dask_address=cluster.scheduler_address)
    assert len(gs.trials) == 2 and gs.best_score > 0.85
