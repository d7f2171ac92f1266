"""The documented APIs, shape for shape (issue 11).

Every documented method of specs 000, 001, 002 and 004 is called with its documented arguments and its return is
checked against the documented shape. The documents' usage examples run with only the import lines and the data
source changed (small scikit-learn datasets in place of data.csv). Bad input keeps raising typed errors."""
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mltrain_nb.errors import ConfigError, DataError, ModelNotFoundError, MLTrainError


def _frame(n=160, seed=0):
    "A small real binary dataset with a 'target' column (breast cancer), in place of the documents' data.csv."
    from sklearn.datasets import load_breast_cancer
    return load_breast_cancer(as_frame=True).frame.sample(n, random_state=seed).reset_index(drop=True)


def _run(code: str, **namespace):
    "Execute a document's example (dedented) in a fresh namespace; returns the namespace."
    ns = dict(namespace)
    exec(compile(textwrap.dedent(code), "<spec example>", "exec"), ns)
    return ns


# ---------------------------------------------------------------------------------------------------------------
# 001: the Python SDK. The example, word for word but for the import line and the data source.
SDK_EXAMPLE = '''
from mltrain_nb import DataPreparation, ModelSelector, TrainingDashboard, ModelEvaluator, ModelDeployment
import pandas as pd

# 1. Load data
df = load_data()
X = df.drop(columns=["target"])
y = df["target"]

# 2. Data Preparation
data_prep = DataPreparation()

# Clean data
df_clean = data_prep.clean_data(df, missing_strategy="mean")
X = df_clean.drop(columns=["target"])
y = df_clean["target"]

# Select features
X_selected, features = data_prep.select_features(
    X, y, method="tree_importance", n_features=10
)

# Split data
X_train, X_val, X_test, y_train, y_val, y_test = data_prep.split_data(
    X_selected, y, test_size=0.2, validation_size=0.1, stratify=True
)

# Scale features
X_train = data_prep.scale_features(X_train, method="standard", fit=True)
X_val = data_prep.scale_features(X_val, method="standard", fit=False)
X_test = data_prep.scale_features(X_test, method="standard", fit=False)

# 3. Model Selection
model_selector = ModelSelector(task_type="classification")

# Compare models
comparison = model_selector.compare_models(
    X_train, y_train, models=["random_forest", "xgboost"], cv=5
)
print(comparison)

# Hyperparameter tuning
results = model_selector.optuna_search(
    X_train, y_train, model_name="random_forest", n_trials=100
)
print(f"Best params: {results['best_params']}")

# 4. Training with Monitoring
dashboard = TrainingDashboard(task_type="classification", patience=10)
model = dashboard.train_with_monitoring(
    model_selector.best_model, X_train, y_train, X_val, y_val
)

# 5. Evaluation
evaluator = ModelEvaluator(task_type="classification")
y_pred = model.predict(X_test)
y_pred_proba = model.predict_proba(X_test)

eval_results = evaluator.evaluate(y_test, y_pred, y_pred_proba)
print(evaluator.generate_evaluation_report())

# Plot evaluation metrics
evaluator.plot_confusion_matrix(y_test, y_pred, save_path="confusion_matrix.png")
evaluator.plot_roc_curve(y_test, y_pred_proba[:, 1], save_path="roc_curve.png")

# 6. Deployment
deployment = ModelDeployment(models_dir="models")
model_id = deployment.save_model(
    model=model,
    name="my_classifier",
    version="1.0.0",
    task_type="classification",
    algorithm="random_forest",
    metrics=eval_results,
    hyperparameters=results["best_params"],
    feature_names=features,
    target_name="target",
    training_samples=len(X_train),
)

# Promote to production
deployment.promote_to_production(model_id)

# Make predictions
loaded_model, metadata = deployment.load_model(model_id)
predictions = loaded_model.predict(X_test)
'''

ENSEMBLE_EXAMPLE = '''
# Voting Ensemble
voting_ensemble = model_selector.create_voting_ensemble(
    models=["random_forest", "xgboost", "logistic"],
    voting="soft"
)
voting_ensemble.fit(X_train, y_train)

# Stacking Ensemble
stacking_ensemble = model_selector.create_stacking_ensemble(
    base_models=["random_forest", "xgboost"],
    meta_model="logistic",
    cv=3
)
stacking_ensemble.fit(X_train, y_train)
'''

AB_EXAMPLE = '''
# Setup A/B test
ab_config = deployment.setup_ab_test(
    model_a_id="model_a_id",
    model_b_id="model_b_id",
    test_name="my_ab_test",
    split_ratio=0.5
)

# Make predictions with A/B test
predictions, model_used = deployment.predict_ab_test(
    test_name="my_ab_test",
    X=X_test,
    user_id="user123"
)
'''


def _check_sdk_example(ns):
    assert len(ns["features"]) == 10 and list(ns["X_selected"].columns) == ns["features"]
    n = len(ns["df"])
    assert len(ns["X_train"]) + len(ns["X_val"]) + len(ns["X_test"]) == n
    assert abs(len(ns["X_test"]) - 0.2 * n) <= 1 and abs(len(ns["X_val"]) - 0.1 * n) <= 1
    assert abs(ns["X_train"].mean()).max() < 1e-9                       # scaled with the training rows' statistics
    assert [c["model"] for c in ns["comparison"]] and {"model", "mean_score", "std_score"} <= set(ns["comparison"][0])
    assert {"best_params", "best_score"} <= set(ns["results"])
    assert ns["dashboard"].history and ns["y_pred_proba"].shape == (len(ns["X_test"]), 2)
    assert {"accuracy", "precision", "recall", "f1", "roc_auc"} <= set(ns["eval_results"])
    assert Path("confusion_matrix.png").stat().st_size > 0 and Path("roc_curve.png").stat().st_size > 0
    assert ns["metadata"]["status"].lower() == "production"
    assert list(ns["predictions"]) == list(ns["model"].predict(ns["X_test"]))


@pytest.mark.slow
def test_001_sdk_example_as_written(quiet):
    "The whole classification example, verbatim (100 Optuna trials), then the ensemble and A/B examples."
    ns = _run(SDK_EXAMPLE, load_data=lambda: _frame(120))
    _check_sdk_example(ns)
    ns = _run(ENSEMBLE_EXAMPLE, **ns)
    assert ns["stacking_ensemble"].predict(ns["X_test"]).shape == (len(ns["X_test"]),)
    _ab_example(ns)


def _ab_example(ns):
    "The A/B example with two real registered versions in place of the placeholder ids."
    dep = ns["deployment"]
    b_id = dep.save_model(model=ns["model"], name="my_classifier", version="1.1.0", task_type="classification")
    code = AB_EXAMPLE.replace('"model_a_id"', "ids[0]").replace('"model_b_id"', "ids[1]")   # placeholders -> real ids
    ns = _run(code, ids=(ns["model_id"], b_id), **ns)
    assert isinstance(ns["ab_config"], dict) and "my_ab_test" in str(ns["ab_config"])
    assert ns["model_used"] in (ns["model_id"], b_id) and len(ns["predictions"]) == len(ns["X_test"])


def test_001_sdk_example_fast(quiet):
    "The same example with n_trials=100 lowered to 3 (the only change), so the everyday suite stays quick."
    code = SDK_EXAMPLE.replace("n_trials=100", "n_trials=3")
    ns = _run(code, load_data=lambda: _frame(120))
    _check_sdk_example(ns)
    ns = _run(ENSEMBLE_EXAMPLE, **ns)
    assert ns["voting_ensemble"].voting == "soft" and type(ns["stacking_ensemble"].final_estimator).__name__ == "LogisticRegression"
    _ab_example(ns)


def test_001_regression_example(quiet):
    from mltrain_nb import ModelSelector, TrainingDashboard, ModelEvaluator
    from sklearn.datasets import load_diabetes
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    ns = _run('''
    model_selector = ModelSelector(task_type="regression")
    dashboard = TrainingDashboard(task_type="regression")
    evaluator = ModelEvaluator(task_type="regression")
    ''', ModelSelector=ModelSelector, TrainingDashboard=TrainingDashboard, ModelEvaluator=ModelEvaluator)
    sel = ns["model_selector"]
    sel.engine.config = sel.engine.config.updated(tracking={"enabled": False})
    comp = sel.compare_models(X.iloc[:300], y.iloc[:300], models=["ridge", "decision_tree"], cv=3)
    assert comp[0]["metric"] == "r2" and comp[0]["mean_score"] >= comp[1]["mean_score"]
    m = ns["dashboard"].train_with_monitoring("ridge", X.iloc[:300], y.iloc[:300], X.iloc[300:400], y.iloc[300:400])
    res = ns["evaluator"].evaluate(y.iloc[400:], m.predict(X.iloc[400:]))
    assert {"r2", "rmse", "mae", "mape", "explained_variance"} == set(res)


def test_001_bad_input_is_typed():
    from mltrain_nb import DataPreparation, ModelSelector, TrainingDashboard, ModelEvaluator
    df = _frame(60)
    prep = DataPreparation()
    with pytest.raises(ConfigError, match="Did you mean 'mean'"): prep.clean_data(df, missing_strategy="meen")
    with pytest.raises(ConfigError, match="n_features"): prep.select_features(df.drop(columns="target"), df["target"], n_features=99)
    with pytest.raises(ConfigError, match="fit=True"): DataPreparation().scale_features(df, fit=False)
    with pytest.raises(ConfigError, match="task_type"): ModelSelector(task_type="clasification")
    with pytest.raises(ConfigError, match="soft"): ModelSelector("classification").create_voting_ensemble(["decision_tree", "naive_bayes"], voting="mean")
    with pytest.raises(DataError): ModelEvaluator(task_type="classification").evaluate([0, 1], [0])
    with pytest.raises(DataError): TrainingDashboard(config={"tracking": False}).train_with_monitoring(
        "decision_tree", df.drop(columns="target"), df["target"].iloc[:10])


# ---------------------------------------------------------------------------------------------------------------
# 002: the spec-driven workflow: integration patterns 1-4, imports changed from `specs`/`module.*`/`src.*`.
def test_002_integration_patterns(quiet):
    from mltrain_nb.workflow.specs import (FeatureSpecBuilder, ModelSpecBuilder, MLflowSpecBuilder, GridSearchSpecBuilder,
                                           CalibrationSpecBuilder)
    from sklearn.model_selection import train_test_split
    df = _frame(240)
    X, y = df.drop(columns="target").iloc[:, :6], df["target"]
    X_train, X_rest, y_train, y_rest = train_test_split(X, y, test_size=0.4, stratify=y, random_state=0)
    X_val, X_test, y_val, y_test = train_test_split(X_rest, y_rest, test_size=0.5, stratify=y_rest, random_state=0)
    ns = dict(FeatureSpecBuilder=FeatureSpecBuilder, ModelSpecBuilder=ModelSpecBuilder, MLflowSpecBuilder=MLflowSpecBuilder,
              X=X_train, y=y_train, X_train=X_train, y_train=y_train, X_val=X_val, y_val=y_val, X_test=X_test, y_test=y_test)
    # Pattern 1 ([...] is the document's placeholder for the column names)
    ns = _run('''
    # 1. Create specifications
    feature_specs = FeatureSpecBuilder().add_numeric_group(list(X.columns)).build()
    model_spec = ModelSpecBuilder().add_classifier("gb").build()[0]
    mlflow_spec = MLflowSpecBuilder().enable().set_experiment("exp").build()

    # 2. Build pipeline
    from mltrain_nb.workflow.pre_processing import FeatureSpecPipeline
    from mltrain_nb.workflow.classifier import GradientBoostingClassifierImpl
    from sklearn.pipeline import Pipeline

    pipeline = Pipeline([
        ('preprocessor', FeatureSpecPipeline(feature_specs)),
        ('classifier', GradientBoostingClassifierImpl(model_spec))
    ])

    # 3. Train with MLflow
    from mltrain_nb.workflow.mlflow_tracker import MLflowTracker

    tracker = MLflowTracker(mlflow_spec)
    tracker.start_run()

    pipeline.fit(X_train, y_train)
    predictions = pipeline.predict(X_test)
    accuracy = (predictions == y_test).mean()

    tracker.log_metrics({"accuracy": accuracy})
    tracker.log_model(pipeline, "model", X_train[:10])
    tracker.end_run(status="FINISHED")
    ''', **ns)
    client = ns["tracker"].tracker.client
    runs = client.search_runs([ns["tracker"].experiment_id])
    assert len(runs) == 1 and runs[0].info.status == "FINISHED" and runs[0].data.metrics["accuracy"] > 0.8
    # Pattern 2
    ns = _run('''
    # 1. Create tuning spec
    from mltrain_nb.workflow.specs import GridSearchSpecBuilder

    tuning_spec = GridSearchSpecBuilder()\\
        .set_param_grid({
            "classifier__n_estimators": [50, 100, 200]
        })\\
        .set_cv_folds(5)\\
        .build()

    # 2. Tune
    from mltrain_nb.workflow.params_tuning import GridSearch

    tuner = GridSearch(tuning_spec)
    tuner.fit(pipeline, X, y)

    # 3. Get best model
    best_pipeline = tuner.get_best_estimator()
    best_params = tuner.get_best_params()

    # 4. Log to MLflow
    tracker.log_params(best_params)
    tracker.log_metrics({"best_cv_score": tuner.get_best_score()})
    ''', **ns)
    assert ns["best_params"]["classifier__n_estimators"] in (50, 100, 200)
    auto_run = ns["tracker"].run_id            # logging after end_run started a run, as MLflow's fluent API does
    ns["tracker"].end_run()
    assert client.get_run(auto_run).data.params["classifier__n_estimators"] == str(ns["best_params"]["classifier__n_estimators"])
    # Pattern 3
    ns = _run('''
    # 1. Train model
    pipeline.fit(X_train, y_train)

    # 2. Calibrate on validation set
    from mltrain_nb.workflow.calibration import ClassifierCalibration
    from mltrain_nb.workflow.specs import CalibrationSpecBuilder

    calib_spec = CalibrationSpecBuilder()\\
        .set_method("isotonic")\\
        .set_cv_strategy(5)\\
        .build()

    calibrator = ClassifierCalibration(calib_spec)
    calibrator.fit(pipeline, X_val, y_val)

    # 3. Get calibrated predictions
    calibrated_proba = calibrator.predict_proba(X_test)
    ''', **ns)
    assert ns["calibrated_proba"].shape == (len(X_test), 2)
    # Pattern 4
    ns = _run('''
    from mltrain_nb.workflow.orchestrator import run_ml_workflow

    results = run_ml_workflow(
        feature_specs=feature_specs,
        model_spec=model_spec,
        X=X_train,
        y=y_train,
        validation_strategy='cross_validation',
        validation_params={'cv_folds': 5},
        tuning_spec=tuning_spec,
        calibration_spec=calib_spec,
        mlflow_spec=mlflow_spec
    )
    ''', **ns)
    r = ns["results"]
    assert {"pipeline", "cv_score", "tuning_summary", "calibration_summary", "mlflow_run_id"} <= set(r)
    assert r["pipeline"].predict(X_test).shape == (len(X_test),)
    assert client.get_run(r["mlflow_run_id"]).info.status == "FINISHED"
    assert not [x for x in client.search_runs([ns["tracker"].experiment_id]) if x.info.status == "RUNNING"]


def test_002_builders_and_steps_documented_shapes(quiet):
    "The step-by-step snippets of 002: builders, classifier API, transform, randomized search, MLflow registry, inference."
    from scipy.stats import randint, uniform
    from sklearn.pipeline import Pipeline
    from mltrain_nb.workflow.specs import (FeatureSpecBuilder, ModelSpecBuilder, RandomizedSearchSpecBuilder, MLflowSpecBuilder,
                                           CalibrationSpecBuilder)
    from mltrain_nb.workflow.pre_processing import FeatureSpecPipeline
    from mltrain_nb.workflow.classifier import GradientBoostingClassifierImpl
    from mltrain_nb.workflow.params_tuning import RandomizedSearch
    from mltrain_nb.workflow.mlflow_tracker import MLflowTracker
    from mltrain_nb.workflow.inference import ModelLoader, InferenceEngine
    df = _frame(200)
    X, y = df.drop(columns="target").iloc[:, :5], df["target"]
    model_spec = ModelSpecBuilder().add_classifier("my_model", hyperparameters={"n_estimators": 100}).build()[0]
    assert (model_spec.model_name, model_spec.algorithm, model_spec.random_state) == ("my_model", "gradient_boosting", 42)
    assert model_spec.evaluation_metrics == ["accuracy", "roc_auc"]
    classifier = GradientBoostingClassifierImpl(model_spec)
    assert classifier.fit(X, y) is classifier and classifier.is_fitted_
    assert classifier.predict(X).shape == (200,) and classifier.predict_proba(X).shape == (200, 2)
    assert classifier.get_params(deep=True)["model_spec"] is model_spec and classifier.set_params(n_estimators=10) is classifier
    feature_specs = FeatureSpecBuilder().add_numeric_group(feature_names=list(X.columns), imputer_strategy="mean",
                                                           scaler_type="standard").build()
    pipe = FeatureSpecPipeline(feature_specs)
    assert isinstance(pipe.fit(X, y).transform(X), np.ndarray)
    spec = (RandomizedSearchSpecBuilder().set_param_distributions({"classifier__learning_rate": uniform(0.01, 0.3),
                                                                   "classifier__n_estimators": randint(5, 30)})
            .set_n_iter(3).set_cv_folds(3).build())
    full = Pipeline([("preprocessor", FeatureSpecPipeline(feature_specs)), ("classifier", GradientBoostingClassifierImpl(model_spec))])
    tuner = RandomizedSearch(spec)
    tuner.fit(full, X, y)
    assert isinstance(tuner.get_best_score(), float) and set(tuner.get_best_params()) == {"classifier__learning_rate", "classifier__n_estimators"}
    mlflow_spec = (MLflowSpecBuilder().enable().set_experiment("my_experiment").set_run_name("gradient_boost_v1")
                   .enable_model_registry(stage="Staging").add_tags({"team": "ml-eng", "version": "1.0"}).build())
    tracker = MLflowTracker(mlflow_spec)
    tracker.start_run()
    tracker.log_params({"n_estimators": 100, "learning_rate": 0.1, "max_depth": 5})
    tracker.log_metrics({"accuracy": 0.92, "f1_score": 0.91, "roc_auc": 0.95})
    trained_pipeline = tuner.get_best_estimator()
    tracker.log_model(model=trained_pipeline, artifact_path="model", X_sample=X[:100])
    tracker.log_workflow_results(results={"pipeline": trained_pipeline, "cv_score": 0.92, "cv_std": 0.02, "test_accuracy": 0.91},
                                 X_sample=X[:100], register_model=True)
    tracker.end_run(status="FINISHED")
    loader = ModelLoader(tracker.tracking_uri)
    model = loader.load_from_registry(model_name="model", stage="Staging")
    engine = InferenceEngine(model=model)
    assert engine.predict_single(X.iloc[0].to_dict()) in (0, 1)
    assert set(engine.predict_single(X.iloc[0].to_dict(), return_proba=True)) == {"prediction", "probability"}
    assert engine.predict(X).shape == (200,) and engine.predict_proba(X).shape == (200, 2)
    assert loader.load_from_run(tracker.tracker.client.search_runs([tracker.experiment_id])[0].info.run_id).predict(X).shape == (200,)
    assert len(engine.get_feature_importance()) == 5
    with pytest.raises(ConfigError): CalibrationSpecBuilder().set_method("platt")
    with pytest.raises(ConfigError): ModelSpecBuilder().add_classifier("x", algorithm="gradient_bosting")


# ---------------------------------------------------------------------------------------------------------------
# 004: the TRAINING_CONFIG, accepted by the engine and meaning what it says.
TRAINING_CONFIG = {
    "data_split": {"train_ratio": 0.8, "val_ratio": 0.1, "test_ratio": 0.1, "stratify": True, "random_state": 42},
    "cross_validation": {"n_folds": 5, "shuffle": True, "scoring": ["accuracy", "f1", "roc_auc"]},
    "early_stopping": {"patience": 10, "min_delta": 0.001, "restore_best_weights": True},
    "hyperparameter_tuning": {"method": "grid_search",  "cv": 3, "n_iter": 50},
}


def test_004_training_config_80_10_10(quiet):
    from mltrain_nb import MLTrainingEngine
    df = _frame(200)
    cfg = {k: v for k, v in TRAINING_CONFIG.items() if k != "hyperparameter_tuning"}
    engine = MLTrainingEngine({**cfg, "tracking": False}, progress=False)
    res = engine.train_model(df, "target", model_type="xgboost")
    assert (res["n_train"], res["n_test"]) == (160, 20)
    assert engine.config.cv == 5 and len(res["cv_scores"]["accuracy"]["folds"]) == 5
    assert {"accuracy", "f1", "roc_auc"} <= set(res["test_metrics"])
    assert res["training_history"] and res["best_iteration"] is not None        # early stopping watched the 10% validation rows
    assert len(res["training_history"]) <= res["best_iteration"] + 1 + 10


def test_004_tuning_from_training_config(quiet):
    from mltrain_nb import MLTrainingEngine
    df = _frame(150)
    engine = MLTrainingEngine({**TRAINING_CONFIG, "early_stopping": False, "tracking": False}, progress=False)
    res = engine.train_model(df, "target", model_type="decision_tree", param_grid={"max_depth": [2, 3]})
    assert res["tuning"]["method"] == "grid" and res["tuning"]["n_trials"] == 2


def test_004_bad_config_is_typed():
    from mltrain_nb import MLTrainingEngine
    with pytest.raises(ConfigError, match="add up to 1"):
        MLTrainingEngine({"data_split": {"train_ratio": 0.8, "val_ratio": 0.2, "test_ratio": 0.2}})
    with pytest.raises(ConfigError, match="bayesian"):
        MLTrainingEngine({"hyperparameter_tuning": {"method": "bayes"}})
    with pytest.raises(ConfigError, match="roc_auc"):
        MLTrainingEngine({"cross_validation": {"scoring": ["accuracy", "roc_aux"]}, "tracking": False},
                         progress=False).train_model(_frame(60), "target", model_type="decision_tree")


# ---------------------------------------------------------------------------------------------------------------
# 000: MLTrainingEngine and ExperimentTracker, method by method, in the main API and in mltrain_nb.compat.
def _engine_calls(Engine, tmp_path):
    "Every public method of spec 000's engine with its documented arguments; returns what the error-tuple methods gave."
    df = _frame(200)
    X, y = df.drop(columns="target"), df["target"]
    engine = Engine({"cv": 3, "tracking": False, "task": "classification"}, progress=False)
    res = engine.train_model(X, y, model_type="random_forest", custom_model=None, param_grid=None,
                             model_name="random_forest_1", X_val=None, y_val=None)
    assert {"model_name", "model", "params", "metrics", "feature_importance", "training_time"} <= set(res)
    assert res["model_name"] == "random_forest_1" and isinstance(res["training_time"], float)
    from sklearn.linear_model import LogisticRegression
    engine.train_model(X, y, custom_model=LogisticRegression(max_iter=3000), model_name="logreg")
    comp = engine.get_performance_comparison()
    assert set(comp) == {"models", "best_model", "primary_metric"} and comp["primary_metric"] == "accuracy"
    for m in comp["models"]:
        assert {"name", "type", "training_time", "is_best", "metrics"} <= set(m)
        assert m["is_best"] == (m["name"] == comp["best_model"])
    assert {m["type"] for m in comp["models"]} == {"RandomForestClassifier", "LogisticRegression"}
    name, info = engine.get_best_model()
    assert name == comp["best_model"] and {"model", "params", "feature_names", "metrics", "feature_importance"} <= set(info)
    assert info["feature_names"] == list(X.columns)
    ev = engine.evaluate_model(model_name="random_forest_1", X_test=None, y_test=None, detailed=False)
    assert {"accuracy", "precision", "recall", "f1", "roc_auc", "prediction_time"} <= set(ev) and "confusion_matrix" not in ev
    ev = engine.evaluate_model("random_forest_1", X.head(50), y.head(50), detailed=True)
    assert np.array(ev["confusion_matrix"]).sum() == 50 and isinstance(ev["detailed_report"], dict)
    summary = engine.get_model_summary(model_name="random_forest_1")
    assert {"model_name", "model_type", "feature_count", "metrics", "training_time", "is_best_model", "top_features"} <= set(summary)
    assert summary["model_type"] == "RandomForestClassifier" and summary["feature_count"] == X.shape[1]
    assert len(summary["top_features"]) == 10 and summary["is_best_model"] == (name == "random_forest_1")
    path = engine.save_model("random_forest_1", path=str(tmp_path / "models"), include_preprocessor=True)
    assert isinstance(path, str) and Path(path).exists()
    ex = engine.generate_explainability(model_name="random_forest_1", X=X.head(40), method="shap")
    assert ex["method"] == "shap" and set(ex["importance"]) == set(X.columns) and "plot_path" in ex
    report = engine.generate_report(output_file=str(tmp_path / "report.md"))
    assert isinstance(report, str) and Path(report).exists() and Path(report).with_suffix(".html").exists()
    loaded = engine.load_model(path, model_name="reloaded")
    preds = engine.predict(X.head(5), model_name="reloaded", return_proba=False)
    proba = engine.predict(X.head(5), "reloaded", return_proba=True)
    assert engine.shutdown() is None
    return engine, X, loaded, preds, proba


def test_000_engine_main_api(tmp_path, quiet):
    from mltrain_nb import MLTrainingEngine
    engine, X, loaded, preds, proba = _engine_calls(MLTrainingEngine, tmp_path)
    assert hasattr(loaded, "model") and preds.shape == (5,) and proba.shape == (5, 2)
    assert list(engine.leaderboard().index)[0] == engine.get_best_model()[0]       # the DataFrame stays available
    # the main API keeps raising typed errors where the document returns (False, message)
    with pytest.raises(ModelNotFoundError, match="No saved model"): engine.load_model(tmp_path / "nope.joblib")
    with pytest.raises(ModelNotFoundError, match="Did you mean"): engine.predict(X.head(2), "reloadd")
    with pytest.raises(DataError, match="lacks"): engine.predict(X.drop(columns=X.columns[0]).head(2))
    with pytest.raises(ConfigError): MLTrainingEngine({"cv": 1})


def test_000_engine_compat_tuples(tmp_path, quiet):
    from mltrain_nb.compat import MLTrainingEngine
    engine, X, loaded, preds, proba = _engine_calls(MLTrainingEngine, tmp_path)
    assert loaded[0] is True and hasattr(loaded[1], "predict")
    assert preds[0] is True and preds[1].shape == (5,) and proba[1].shape == (5, 2)
    ok, msg = engine.load_model(str(tmp_path / "models" / "my_model.pkl"))
    assert ok is False and "No saved model" in msg
    ok, msg = engine.predict(X.head(2), model_name="missing")
    assert ok is False and "missing" in msg
    assert engine._evaluate_model(engine.models["logreg"].model, X, _frame(200)["target"])["prediction_time"] >= 0


def _tracker_calls(Tracker, tmp_path):
    from sklearn.linear_model import LogisticRegression
    df = _frame(120)
    X, y = df.drop(columns="target").iloc[:, :5], df["target"]
    clf = LogisticRegression(max_iter=3000).fit(X, y)
    tracker = Tracker(output_dir=str(tmp_path / "experiments"), experiment_name=None)
    out = {"start": tracker.start_experiment(config={"cv": 3, "model": "lr"}, model_info={"model_type": "LogisticRegression"})}
    for step, acc in enumerate([0.8, 0.85, 0.9]): tracker.log_metrics({"val_accuracy": acc}, step=step)
    out["metrics"] = tracker.log_metrics({"accuracy": 0.9}, step=None)
    out["importance"] = tracker.log_feature_importance(feature_names=list(X.columns), importance=np.abs(clf.coef_[0]))
    out["model"] = tracker.log_model(clf, "lr", path=None)
    out["cm"] = tracker.log_confusion_matrix(y, clf.predict(X), class_names=["malignant", "benign"])
    data = tracker.end_experiment()
    assert isinstance(data, dict) and data["metrics"]["accuracy"] == 0.9
    assert [p["value"] for p in data["metrics"]["val_accuracy"]] == [0.8, 0.85, 0.9]       # the series, not its first value
    report = tracker.generate_report(report_path=str(tmp_path / "run_report.md"), include_plots=True)
    assert isinstance(report, str) and Path(report).exists() and Path(report).with_suffix(".html").exists()
    return tracker, out


def test_000_tracker_main_and_compat(tmp_path, quiet):
    from mltrain_nb.tracking import ExperimentTracker
    from mltrain_nb.compat import ExperimentTracker as CompatTracker
    tracker, out = _tracker_calls(ExperimentTracker, tmp_path / "main")
    assert isinstance(out["start"], str) and out["model"].startswith(("models:/", "runs:/"))
    assert np.array(out["cm"]).sum() == 120 and np.array(out["cm"]).trace() > 100        # display names, real counts
    ctracker, cout = _tracker_calls(CompatTracker, tmp_path / "compat")
    assert all(v is None for v in cout.values())
    assert ctracker.experiment_name.startswith("experiment_")                              # timestamp-based name
    assert ctracker._make_json_serializable({"a": np.int64(3), "b": np.array([1.5])}) == {"a": 3, "b": [1.5]}
    with pytest.raises(MLTrainError, match="No experiment was started"): tracker.end_experiment()


def test_004_training_config_in_a_magic_body(quiet):
    "The same TRAINING_CONFIG as the YAML body of %%train: it means the same there (80/10/10, 3 folds, grid tuning cv)."
    import yaml
    from IPython.testing.globalipapp import get_ipython
    shell = get_ipython()
    shell.run_line_magic("load_ext", "mltrain_nb")
    try:
        shell.run_line_magic("config", "MLTrain.progress = False")
        shell.run_line_magic("config", "MLTrain.tracking = False")
        shell.user_ns["bc"] = _frame(200)
        body = yaml.safe_dump({**TRAINING_CONFIG, "cross_validation": {"n_folds": 3, "scoring": ["f1", "accuracy"]},
                               "early_stopping": False, "tracking": False})
        r = shell.run_cell_magic("train", "bc --target target --models decision_tree,logistic_regression -o r", body)
        assert r.metric == "f1" and r.config.cv == 3 and r.config.tuning.cv == 3
        assert (r.config.split.test_size, r.config.split.val_size, r.config.split.strategy) == (0.1, 0.1, "stratified")
        assert r.results["decision_tree"].n_test == 20
    finally:
        shell.run_line_magic("unload_ext", "mltrain_nb")
        shell.config.pop("MLTrain", None)
        for k in ("bc", "r"): shell.user_ns.pop(k, None)
