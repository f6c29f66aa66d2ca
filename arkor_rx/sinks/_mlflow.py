"""``sinks.MLflow(tracking_uri, experiment)``: one MLflow run per job (mlflow-skinny client)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from arkor_rx._credentials import safe_url
from arkor_rx._redaction import hide
from arkor_rx.events import TrainingCompleted, TrainingLog
from arkor_rx.jobs import TrainingJob
from arkor_rx.samples import SamplesAnswered
from arkor_rx.sinks._base import DEFAULT_BUFFER_SIZE, Outcome, Overflow, RunErrors, SinkItem
from arkor_rx.sinks._builtin import BuiltinSink, require
from arkor_rx.sinks._tracking import SkippedSteps, finite, flat_config, log_metrics, run_label

__all__ = ["MLFLOW_STATUS", "MLflow"]

MLFLOW_STATUS = {
    "completed": "FINISHED",
    "failed": "FAILED",
    "error": "FAILED",
    "stopped": "KILLED",
    "cancelled": "KILLED",
}
"""The MLflow run status of each outcome kind."""

SAMPLES_ARTIFACT = "samples.json"
"""The table artifact holding the checkpoint samples (MLflow's ``split`` table format)."""


@dataclass(slots=True)
class _Run:
    run_id: str
    samples: list[list[Any]] = field(default_factory=list)


class MLflow(BuiltinSink):
    """Track every job as an MLflow run: params, metrics by step, status, samples.

    Each job becomes one run in ``experiment`` (created when missing), named
    ``<name>-<job id>`` and tagged ``arkor.job_id``, ``arkor.model`` and
    ``arkor.dataset``; the job config becomes params (flattened,
    ``lora.r``); ``loss``, ``eval_loss``, ``learning_rate``, ``epoch`` and
    ``samples_per_second`` are logged at each event's step, in ``log_batch``
    calls within MLflow's per-request limits (1000 metrics, 100 params or
    tags). When the run ends its status is set from the outcome (FINISHED,
    FAILED, or KILLED for stopped and cancelled), with the tags
    ``arkor.outcome``, ``arkor.stop_rule`` and ``arkor.stop_reason`` (or
    ``arkor.error``), the numeric final metrics as ``final_<name>``, and the
    checkpoint samples as the table artifact ``samples.json`` (columns
    ``step``, ``prompt``, ``answer``, ``error``). With ``parent_run=``, every
    run is nested under one parent run of that name (a sweep).

    Every call to MLflow runs in a worker thread, so a slow tracking server
    holds this sink's own task only.

    Examples:
        >>> sink = MLflow("sqlite:///mlruns.db", experiment="arkor")  # doctest: +SKIP

    Args:
        tracking_uri: where runs go: ``sqlite:///mlruns.db``, ``http://127.0.0.1:5000``
            (None: MLflow's default, ``MLFLOW_TRACKING_URI``).
        experiment: the experiment name.
        parent_run: nest every run under a parent run of this name.
        artifact_location: where a new experiment keeps its artifacts (MLflow's
            default: ``./mlruns`` beside a sqlite store, or the server's choice).
        overflow: ``"block"`` by default: every metric is logged.
        fail_on_error: fail ``wait()`` when MLflow fails.
        buffer_size: events buffered before the overflow policy applies.

    Raises:
        MissingExtraError: mlflow-skinny is not installed (``pip install arkor_rx[mlflow]``).
    """

    def __init__(
        self,
        tracking_uri: str | None = None,
        experiment: str = "arkor",
        *,
        parent_run: str | None = None,
        artifact_location: str | None = None,
        overflow: Overflow = "block",
        fail_on_error: bool = False,
        buffer_size: int = DEFAULT_BUFFER_SIZE,
    ) -> None:
        super().__init__(overflow=overflow, fail_on_error=fail_on_error, buffer_size=buffer_size)
        tracking = require("mlflow.tracking", "mlflow")
        self._entities = require("mlflow.entities", "mlflow")
        validation = require("mlflow.utils.validation", "mlflow")
        self._max_metrics = int(getattr(validation, "MAX_METRICS_PER_BATCH", 1000))
        self._max_params = int(getattr(validation, "MAX_PARAMS_TAGS_PER_BATCH", 100))
        self._max_param = int(getattr(validation, "MAX_PARAM_VAL_LENGTH", 6000))
        self._max_tag = int(getattr(validation, "MAX_TAG_VAL_LENGTH", 8000))
        self.tracking_uri = tracking_uri
        """The tracking URI given."""
        if tracking_uri is not None and "://" in tracking_uri:
            hide(urlsplit(tracking_uri).password or "")  # out of logs and stats.last_error
        self.experiment = experiment
        """The experiment name."""
        self.parent_run = parent_run
        """The parent run's name, for nested runs."""
        self.artifact_location = artifact_location
        """The artifact location given to a new experiment."""
        self.client: Any = tracking.MlflowClient(tracking_uri=tracking_uri)
        """The ``MlflowClient`` used (read runs back with it)."""
        self._experiment_id: str | None = None
        self._parent_id: str | None = None
        self._open_children = 0
        self._runs: dict[str, _Run] = {}

    def __repr__(self) -> str:
        uri = None if self.tracking_uri is None else safe_url(self.tracking_uri)
        return f"MLflow({uri!r}, experiment={self.experiment!r})"

    def with_parent_run(self, parent_run: str) -> MLflow:
        """A sink like this one whose runs nest under the parent run ``parent_run``.

        It writes to the same tracking URI and experiment with the same options,
        through the same ``MlflowClient``, and counts into the same ``stats``;
        this sink itself is left as it is (a sweep uses this to nest its runs
        without changing the sink it was given).

        Args:
            parent_run: the parent run's name (created when its first child opens).

        Returns:
            A new `MLflow` sink.
        """
        sink = MLflow(
            self.tracking_uri,
            self.experiment,
            parent_run=parent_run,
            artifact_location=self.artifact_location,
            overflow=self.overflow,
            fail_on_error=self.fail_on_error,
            buffer_size=self.buffer_size,
        )
        sink.client = self.client
        sink.stats = self.stats
        return sink

    def run_id(self, job_id: str) -> str | None:
        """The MLflow run id of an open job (None when unknown)."""
        run = self._runs.get(job_id)
        return None if run is None else run.run_id

    async def open(self, job: TrainingJob) -> None:
        """Create the run, tag it and log the config as params."""
        self._runs[job.id] = _Run(await asyncio.to_thread(self._create, job))

    async def write(self, events: Sequence[SinkItem]) -> None:
        """Log the batch's metrics, run by run (``log_batch`` calls within the limits)."""
        metric = self._entities.Metric
        now = int(time.time() * 1000)
        metrics: dict[str, list[Any]] = {}
        skipped = SkippedSteps()
        for event in events:
            run = self._runs.get(event.job_id)
            if run is None:
                continue
            if isinstance(event, TrainingLog) and skipped.skip(event.job_id, event.step):
                continue  # the rest is logged
            logged = metrics.setdefault(event.job_id, [])
            if isinstance(event, TrainingLog):
                logged += [metric(k, v, now, event.step) for k, v in log_metrics(event)]
            elif isinstance(event, SamplesAnswered):
                run.samples += [[event.step, s.prompt, s.answer, s.error] for s in event.samples]
            elif isinstance(event, TrainingCompleted) and event.metrics:
                logged += [
                    metric(f"final_{k}", v, now, 0)
                    for k, raw in event.metrics.items()
                    if (v := finite(raw)) is not None
                ]
        errors = skipped.errors()
        runs = self._runs
        to_log = {job: (runs[job].run_id, logged) for job, logged in metrics.items() if logged}
        if to_log:
            errors |= await asyncio.to_thread(self._log_metrics, to_log)
        if errors:
            raise RunErrors(errors)

    async def close(self, outcome: Outcome) -> None:
        """Tags from the outcome, the samples table, then the run's status."""
        run = self._runs.pop(outcome.job_id or "", None)
        if run is not None:
            await asyncio.to_thread(self._finish, run, outcome)

    # ----------------------------------------------------------- in the worker thread

    def _experiment(self) -> str:
        if self._experiment_id is None:
            found = self.client.get_experiment_by_name(self.experiment)
            if found is not None:
                self._experiment_id = str(found.experiment_id)
            else:
                self._experiment_id = str(
                    self.client.create_experiment(
                        self.experiment, artifact_location=self.artifact_location
                    )
                )
        return self._experiment_id

    def _parent(self) -> str | None:
        if self.parent_run is None:
            return None
        if self._parent_id is None:
            parent = self.client.create_run(self._experiment(), run_name=self.parent_run)
            self._parent_id = str(parent.info.run_id)
        elif self._open_children == 0:
            self.client.update_run(self._parent_id, status="RUNNING")
        self._open_children += 1
        return self._parent_id

    def _create(self, job: TrainingJob) -> str:
        config = job.config or {}
        dataset = config.get("datasetSource") or config.get("dataset")  # the wire's name first
        if isinstance(dataset, dict):
            dataset = dataset.get("name") or dataset.get("url") or json.dumps(dataset)
        dataset = safe_url(str(dataset)) if dataset else dataset
        tags = {"arkor.job_id": job.id, "arkor.name": job.name}
        for key, value in (("arkor.model", config.get("model")), ("arkor.dataset", dataset)):
            if value:
                tags[key] = str(value)[: self._max_tag]
        parent = self._parent()
        if parent is not None:
            tags["mlflow.parentRunId"] = parent
        created = self.client.create_run(self._experiment(), run_name=run_label(job), tags=tags)
        run_id = str(created.info.run_id)
        param = self._entities.Param
        params = [param(k, str(v)[: self._max_param]) for k, v in flat_config(config).items()]
        for start in range(0, len(params), self._max_params):
            self.client.log_batch(run_id, params=params[start : start + self._max_params])
        return run_id

    def _log_metrics(self, by_job: dict[str, tuple[str, list[Any]]]) -> dict[str, Exception]:
        """Log each run's metrics; return the runs that failed, each with its error.

        One run's failure (its MLflow run deleted, a value the server refuses)
        does not stop the others. A server that cannot be reached does: the runs
        after it are not tried (each would wait out MLflow's retries) and get an
        error that says so.
        """
        errors: dict[str, Exception] = {}
        jobs = list(by_job)
        for tried, job_id in enumerate(jobs):
            run_id, metrics = by_job[job_id]
            try:
                for start in range(0, len(metrics), self._max_metrics):
                    batch = metrics[start : start + self._max_metrics]
                    self.client.log_batch(run_id, metrics=batch)
            except Exception as exc:
                errors[job_id] = exc
                if _unreachable(exc):
                    skipped = ConnectionError(
                        f"not logged: the MLflow server could not be reached (job {job_id} first)"
                    )
                    errors |= dict.fromkeys(jobs[tried + 1 :], skipped)
                    break
        return errors

    def _finish(self, run: _Run, outcome: Outcome) -> None:
        tag = self._entities.RunTag
        tags = [tag("arkor.outcome", outcome.kind)]
        if outcome.stop is not None:
            tags += [
                tag("arkor.stop_rule", outcome.stop.rule[: self._max_tag]),
                tag("arkor.stop_reason", outcome.stop.reason[: self._max_tag]),
            ]
        if outcome.error:
            tags.append(tag("arkor.error", outcome.error[: self._max_tag]))
        if run.samples:
            # MLflow's table artifact ("split" orientation) and the tag that makes
            # the UI list it as a table; written by hand, without pandas.
            table = {"columns": ["step", "prompt", "answer", "error"], "data": run.samples}
            self.client.log_dict(run.run_id, table, SAMPLES_ARTIFACT)
            logged = [{"path": SAMPLES_ARTIFACT, "type": "table"}]
            tags.append(tag("mlflow.loggedArtifacts", json.dumps(logged)))
        self.client.log_batch(run.run_id, tags=tags)
        self.client.set_terminated(run.run_id, MLFLOW_STATUS[outcome.kind])
        if self._parent_id is not None and self.parent_run is not None:
            self._open_children -= 1
            if self._open_children == 0:
                self.client.set_terminated(self._parent_id, "FINISHED")


def _unreachable(exc: BaseException) -> bool:
    """Whether ``exc``, or an error it was raised from, says the server could not be reached.

    MLflow's REST client raises ``MlflowException`` from the ``requests``
    connection error or timeout once its retries ran out.
    """
    from requests.exceptions import ConnectionError as NoConnection  # mlflow's HTTP client
    from requests.exceptions import Timeout

    cause: BaseException | None = exc
    for _ in range(8):  # a chain is short; a cycle is not followed for ever
        if cause is None:
            return False
        if isinstance(cause, NoConnection | Timeout | ConnectionError | TimeoutError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False
