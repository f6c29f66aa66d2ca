"""One job's training run, executed in a worker thread.

Rule 1: the thread never touches the event loop except through ``notify``,
which the server makes thread-safe (``loop.call_soon_threadsafe``).

Rule 2: every run ends with exactly one terminal event, appended together
with the job's final status ([`JobStore.finish`][arkor_rx.server.runner.JobStore.finish]):
``training.completed``
(status ``completed``), or ``training.failed`` with status ``failed`` (an
error, or the server stopping) or ``cancelled`` (error ``"cancelled by
user"``: the protocol has no ``training.cancelled`` type).

Rule 3: an injected failure (``FaultConfig.fail_at_step``) takes the same path
as a real one: the run stops as step N begins, everything emitted before
stays, and it ends with status ``failed`` and ``training.failed`` at step N.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from arkor_rx.errors import DatasetError
from arkor_rx.events import (
    CheckpointSaved,
    TrainingCompleted,
    TrainingFailed,
    TrainingLog,
    TrainingStarted,
)
from arkor_rx.jobs import BlobDataset, HuggingFaceDataset, JobConfig
from arkor_rx.server.datasets import ChatDataset, load_dataset
from arkor_rx.server.faults import FaultConfig, injected_failure
from arkor_rx.server.store import INTERRUPTED_ERROR, JobStore, utc_now
from arkor_rx.server.training import (
    TrainingHooks,
    TrainingOutcome,
    TrainingPlan,
    TrainingStopped,
    train,
)

__all__ = ["CANCELLED_ERROR", "SERVER_STOPPED_ERROR", "JobRun"]

CANCELLED_ERROR: Final = "cancelled by user"
"""The ``error`` of the ``training.failed`` event that ends a cancelled job."""

SERVER_STOPPED_ERROR: Final = INTERRUPTED_ERROR
"""The ``error`` of a job stopped by a server shutdown (its status is ``failed``)."""

_log = logging.getLogger("arkor_rx.server")

_NO_FAULTS: Final = FaultConfig()


class JobRun:
    """The training of one job: call [`run`][arkor_rx.server.runner.JobRun.run] in a worker thread.

    Args:
        store: where events and status go.
        job_id: the job.
        config: its validated config.
        plan: its resolved hyper-parameters.
        checkpoint_dir: where its ``.npz`` files go.
        notify: called (from the thread) after every append; must be thread-safe.
        step_delay: seconds to pause after each step.
        faults: the run's injected faults: its ``fail_at_step`` (the run fails as
            that step begins) and ``hold_at_step`` (the run waits before that step
            until a stop is requested); the defaults inject none.
        read_dataset: reads the dataset again when the run starts (the server's
            ``ServerState.read_dataset``, with its roots and limits; by default,
            ``load_dataset`` with no roots, which refuses every ``file://`` dataset,
            and no limits).
    """

    def __init__(
        self,
        *,
        store: JobStore,
        job_id: str,
        config: JobConfig,
        plan: TrainingPlan,
        checkpoint_dir: Path,
        notify: Callable[[], None],
        step_delay: float = 0.0,
        faults: FaultConfig = _NO_FAULTS,
        read_dataset: Callable[[HuggingFaceDataset | BlobDataset], ChatDataset] = load_dataset,
    ) -> None:
        self.job_id = job_id
        self._store = store
        self._config = config
        self._plan = plan
        self._dir = checkpoint_dir
        self._notify = notify
        self._step_delay = step_delay
        self._faults = faults
        self._read_dataset = read_dataset
        self._steps_begun = 0  # train() asks should_stop once before every step
        self._fault_fired = False
        self._stop = threading.Event()
        self._reason: str | None = None
        self._lock = threading.Lock()
        self._claimed = False  # set once by run() or cancel_queued(), whichever comes first

    def request_stop(self, reason: str) -> None:
        """Ask the run to stop before its next step (the first reason wins)."""
        with self._lock:
            if self._reason is None:
                self._reason = reason
        self._stop.set()

    def _claim(self) -> bool:
        with self._lock:
            if self._claimed:
                return False
            self._claimed = True
            return True

    def cancel_queued(self) -> bool:
        """Cancel a job whose thread has not started yet; False when it has.

        A queued job waits for a free worker, which may take long: it is ended
        here at once, and its thread then returns without doing anything.
        """
        if not self._claim():
            return False
        self.request_stop(CANCELLED_ERROR)
        self._fail(CANCELLED_ERROR, None, status="cancelled")
        return True

    def _pause(self, seconds: float) -> None:
        self._stop.wait(seconds)  # returns at once when a stop is requested

    def _should_stop(self) -> str | None:
        return self._reason if self._stop.is_set() else None

    def _before_step(self) -> str | None:
        """``should_stop`` for [`train`][arkor_rx.server.runner.train]: a stop request, else the
        injected fault."""
        reason = self._should_stop()
        if reason is not None:
            return reason
        self._steps_begun += 1
        if self._steps_begun == self._faults.hold_at_step:
            self._stop.wait()  # a cancel or the server's stop ends the wait
            return self._should_stop()
        if self._steps_begun == self._faults.fail_at_step:
            self._fault_fired = True
            return injected_failure(self._steps_begun)
        return None

    def _emit(self, kind: str, json_text: str) -> None:
        self._store.append(self.job_id, kind, json_text)
        self._notify()

    def _artifact(self, kind: str, step: int, path: Path, size: int) -> dict[str, Any]:
        return {
            "kind": kind,
            "jobId": self.job_id,
            "step": step,
            "path": str(path),
            "format": "npz",
            "bytes": size,
        }

    def run(self) -> None:
        """Train, publishing every event; never raises."""
        if not self._claim():
            return  # cancelled while queued: already ended
        step: int | None = None
        try:
            reason = self._should_stop()
            if reason is None:
                outcome = self._train()
        except TrainingStopped as exc:
            if self._fault_fired:
                # the failing step never completed, but it is where the job failed
                self._fail(exc.reason, exc.step + 1, status="failed")
                return
            reason, step = exc.reason, exc.step
        except DatasetError as exc:
            self._fail(str(exc), None, status="failed")
            return
        except Exception as exc:
            _log.exception("job %s crashed", self.job_id)
            self._fail(f"internal error: {type(exc).__name__}: {exc}", step, status="failed")
            return
        if reason is not None:
            status = "cancelled" if reason == CANCELLED_ERROR else "failed"
            self._fail(reason, step, status=status)
            return
        self._complete(outcome)

    def _train(self) -> TrainingOutcome:
        """Load the dataset and train on it, publishing what happens as events."""
        job_id = self.job_id
        self._store.update(job_id, status="running", started_at=utc_now())
        data = self._read_dataset(self._config.dataset_source)

        def on_start(meta: dict[str, Any]) -> None:
            event = TrainingStarted(job_id=job_id, timestamp=utc_now(), metadata=meta)
            self._emit(event.type, event.to_json())

        def on_log(
            step: int,
            loss: float,
            eval_loss: float | None,
            lr: float,
            epoch: float,
            sps: float,
        ) -> None:
            event = TrainingLog(
                job_id=job_id,
                timestamp=utc_now(),
                step=step,
                loss=loss,
                eval_loss=eval_loss,
                learning_rate=lr,
                epoch=round(epoch, 4),
                samples_per_second=round(sps, 1),
            )
            self._emit(event.type, event.to_json())

        def on_checkpoint(step: int, path: Path, size: int) -> None:
            event = CheckpointSaved(
                job_id=job_id,
                timestamp=utc_now(),
                step=step,
                artifacts=[self._artifact("checkpoint", step, path, size)],
            )
            self._emit(event.type, event.to_json())

        hooks = TrainingHooks(
            checkpoint_dir=self._dir,
            on_start=on_start,
            on_log=on_log,
            on_checkpoint=on_checkpoint,
            should_stop=self._before_step,
            pause=self._pause,
            step_delay=self._step_delay,
        )
        return train(self._plan, data, hooks)

    def _complete(self, outcome: TrainingOutcome) -> None:
        """End the job with ``training.completed`` and its final artifact, if any."""
        artifacts = []
        if outcome.final_path is not None:
            artifacts.append(
                self._artifact("final", outcome.steps, outcome.final_path, outcome.final_size)
            )
        now = utc_now()
        event = TrainingCompleted(
            job_id=self.job_id, timestamp=now, metrics=outcome.metrics, artifacts=artifacts
        )
        self._store.finish(
            self.job_id, event.type, event.to_json(), status="completed", completed_at=now
        )
        self._notify()

    def _fail(self, error: str, step: int | None, *, status: str) -> None:
        now = utc_now()
        event = TrainingFailed(job_id=self.job_id, timestamp=now, error=error, step=step)
        self._store.finish(
            self.job_id, event.type, event.to_json(), status=status, error=error, completed_at=now
        )
        self._notify()
