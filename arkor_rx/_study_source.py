"""The runs of a study-driven sweep: trials asked, adopted and told, shared by many drivers.

Rule 1: a run is a trial. A driver asks for a trial while the study holds
fewer than ``n_runs`` trials and fewer than ``max_running`` are ``RUNNING``,
under the study's lock ([`arkor_rx._study_fleet`][arkor_rx._study_fleet]), so
drivers started at the same moment take turns and never exceed either.
The lock is tried, never waited for: while another driver holds it, the
worker sleeps on the loop and tries again. Before its job is submitted the
trial records a random nonce (``arkor_rx.job_nonce``), then the job's name,
which ends with it (``arkor_rx.job_name``: ``<sweep>-t<number> (...) #<nonce>``);
once submitted, its id (``arkor_rx.job_id``). The backend picks the id, so
the nonce is what is known before the job can exist: the jobs whose name
carries it are exactly the jobs this trial's driver submitted.

Rule 2: nothing a dead driver started is lost or run twice. A stale trial
(its driver stopped beating) is adopted by the next driver that claims: its
job, found by ``arkor_rx.job_id`` or else by its nonce in the backend's job
list, is re-attached (``ax.attach``), never resubmitted (no job carrying the
nonce: submitted now, under the same name; more than one, or a name recorded
without a nonce: nothing is adopted and the trial is told ``FAIL`` with the
reason); its
events replay from the start, already reported steps are not reported
again, the study's pruner goes on deciding, and the trial is told how the
job ended. A stale trial whose job was never submitted is submitted now.

Rule 3: while heartbeats are on, a driver with nothing left to ask for waits
(polling the study every heartbeat interval) until every other driver's
trial has ended or been adopted, so a crash late in a study is still
recovered. Without heartbeats it returns as soon as it has nothing to ask
for.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import secrets
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from reactivex import Observable
from reactivex.subject import ReplaySubject

from arkor_rx._study_fleet import Heartbeats, StudyFleet, driver_id
from arkor_rx._sweep_knobs import check_knobs
from arkor_rx._sweep_runs import RunFactory, Slot
from arkor_rx.errors import ArkorError, CloudApiError, ConfigError
from arkor_rx.events import TrainingEvent
from arkor_rx.optuna_bridge import (
    ADOPTED_ATTR,
    DRIVER_ATTR,
    JOB_ID_ATTR,
    JOB_NAME_ATTR,
    JOB_NONCE_ATTR,
    REASON_ATTR,
    SURPLUS_ATTR,
    TrialReporter,
    import_optuna,
    job_nonce,
)
from arkor_rx.runs import Run
from arkor_rx.stopping import StopDecision

__all__ = ["StudySource"]

logger = logging.getLogger("arkor_rx.optuna_bridge")

_WIND_DOWN_POLL = (0.1, 2.0)
"""Seconds between looks at a cancelled job until it ended: the first, doubling up to the last."""

_LOCK_RETRY = (0.02, 0.1)
"""Seconds (drawn between the two) before trying the study's lock again when it is held."""

_POLL = 1.0
"""Seconds between looks at the study while waiting without heartbeats (for the cap)."""


def _a_drivers(trial: Any) -> bool:
    """Whether an arkor_rx driver asked for ``trial`` (so it beats, or did, for it)."""
    return DRIVER_ATTR in trial.user_attrs and not trial.user_attrs.get(SURPLUS_ATTR)


class StudySource:
    """The runs of a study-driven sweep: asked from the study one trial at a time."""

    def __init__(
        self,
        study: Any,
        space: Callable[[Any], Mapping[str, Any]],
        n_runs: int,
        monitor: str,
        factory: RunFactory,
        allowed: Sequence[str],
        max_running: int | None = None,
    ) -> None:
        self._optuna = import_optuna()
        self._study = study
        self._space = space
        self._n_runs = n_runs
        self._monitor = monitor
        self._factory = factory
        self._allowed = tuple(allowed)
        self._max_running = max_running
        self._fleet = StudyFleet(study, self._optuna)
        self._driver = driver_id()
        self._slots: list[Slot] = []
        self._reporters: dict[int, TrialReporter] = {}
        self._heartbeats = Heartbeats(self._fleet)
        self._subject: ReplaySubject[Slot] = ReplaySubject()
        self._exhausted = False
        self.merge_limit: int | None = None

    def _knobs(self, trial: Any) -> dict[str, Any]:
        knobs = self._space(trial)
        if not isinstance(knobs, Mapping):
            raise ConfigError(f"space(trial) must return a dict of knobs, got {knobs!r}")
        check_knobs("space(trial)", list(knobs), self._allowed)
        return dict(knobs)

    def probe(self) -> None:
        """Check ``space`` on a throwaway in-memory trial, before anything is sent.

        Raises:
            ConfigError: ``space`` returned an unknown knob or a value the job config refuses.
        """
        optuna = self._optuna
        storage = optuna.storages.InMemoryStorage()
        storage.create_new_study(directions=list(self._study.directions), study_name="probe")
        probe = optuna.Study(
            study_name="probe", storage=storage, sampler=optuna.samplers.RandomSampler(seed=0)
        )
        trial = probe.ask()
        try:
            knobs = self._knobs(trial)
        except ConfigError:
            raise
        except Exception as exc:
            raise ConfigError(f"space(trial) raised {type(exc).__name__}: {exc}") from None
        self._factory.make(0, knobs)  # validated, then dropped

    # --- RunSource ------------------------------------------------------------

    def known(self) -> Sequence[Slot]:
        return self._slots

    def slots(self) -> Observable[Slot]:
        return self._subject

    def worker_count(self, max_concurrent: int) -> int:
        return max_concurrent

    async def next_slot(self, cancelled: Callable[[], bool]) -> Slot | None:
        while True:
            for slot in self._slots:  # runs a cancelled wait() left behind
                if slot.state == "pending":
                    slot.state = "running"
                    return slot
            if self._exhausted or cancelled():
                self._exhaust()
                return None
            outcome = self._claim()
            if outcome == "busy":  # another driver is claiming: try again soon (Rule 1)
                await asyncio.sleep(random.uniform(*_LOCK_RETRY))
                continue
            if outcome == "done":
                self._exhaust()
                return None
            if outcome == "wait":
                interval = self._fleet.heartbeat_interval
                await asyncio.sleep(_POLL if interval is None else interval)
                continue
            trial, frozen = outcome
            if frozen is None:
                return self._add(trial)
            adopted = await self._adopt(trial, frozen)
            if adopted is not None:
                return adopted

    def _claim(self) -> Any:
        """Under the study's lock: ``(trial, None)`` asked, ``(trial, frozen)`` adopted,
        ``"wait"`` or ``"done"``; ``"busy"`` when another driver holds the lock."""
        with self._fleet.try_claim() as held:
            if not held:
                return "busy"
            outcome = self._claim_held()
        if isinstance(outcome, str) or outcome[1] is not None:
            return outcome
        trial = outcome[0]
        if trial.number >= self._n_runs:  # another process asked at the same moment
            trial.set_user_attr(SURPLUS_ATTR, True)
            self._study.tell(trial, state=self._optuna.trial.TrialState.FAIL)
            return "done"
        return trial, None

    def _claim_held(self) -> Any:
        """What ``_claim`` does while it holds the lock (Rule 1)."""
        optuna = self._optuna
        fleet = self._fleet
        mine = {s.trial._trial_id for s in self._slots if s.trial is not None}
        for frozen in fleet.stale():
            if not _a_drivers(frozen) or frozen._trial_id in mine:
                continue  # a trial no arkor_rx driver asked for is not ours to run
            fleet.beat(frozen._trial_id)  # ours now: no other driver adopts it
            trial = optuna.trial.Trial(self._study, frozen._trial_id)
            trial.set_user_attr(ADOPTED_ATTR, self._driver)
            return trial, frozen
        total = len(self._study.get_trials(deepcopy=False))
        running = fleet.running()
        if total >= self._n_runs:
            others = [t for t in running if _a_drivers(t) and t._trial_id not in mine]
            return "wait" if others and fleet.heartbeat_interval is not None else "done"
        if self._max_running is not None and len(running) >= self._max_running:
            return "wait"
        with warnings.catch_warnings():  # we beat for our trials ourselves (Rule 2)
            warnings.filterwarnings("ignore", "Heartbeat of storage is supposed to be used")
            trial = self._study.ask()
        fleet.beat(trial._trial_id)
        trial.set_user_attr(DRIVER_ATTR, self._driver)
        return trial, None

    async def _adopt(self, trial: Any, frozen: Any) -> Slot | None:
        """Re-attach a dead driver's trial to its job (Rule 2); None: try again later."""
        attrs = frozen.user_attrs
        job_id, name = attrs.get(JOB_ID_ATTR), attrs.get(JOB_NAME_ATTR)
        reported = frozen.intermediate_values.keys()
        if job_id is None and name is not None:
            nonce = attrs.get(JOB_NONCE_ATTR)
            if not isinstance(nonce, str):
                reason = f"its job {name!r} was recorded without a nonce: attach it by hand"
                return self._give_up(trial, reason)
            try:
                jobs = await self._factory.client.list_jobs()
            except ArkorError as exc:  # not adopted: it goes stale again and is tried later
                logger.warning("trial %d: no job list to adopt it from: %s", trial.number, exc)
                return None
            found = [j.id for j in jobs if job_nonce(j.name) == nonce]
            if len(found) > 1:
                reason = f"{len(found)} jobs carry its nonce {nonce}: {', '.join(found)}"
                return self._give_up(trial, reason)
            job_id = found[0] if found else None
        logger.warning(
            "trial %d: its driver stopped beating; %s",
            trial.number,
            f"re-attaching job {job_id}" if job_id else "its job was never submitted: submitting",
        )
        return self._add(trial, name=name, job_id=job_id, reported=reported)

    def _give_up(self, trial: Any, reason: str) -> Slot:
        """A stale trial whose job cannot be told apart: told ``FAIL`` with ``reason``, no job."""
        logger.error("trial %d: not adopted: %s", trial.number, reason)
        return self._add(trial, error=ArkorError(f"not adopted: {reason}"))

    def _add(
        self,
        trial: Any,
        *,
        name: str | None = None,
        job_id: str | None = None,
        reported: Iterable[int] = (),
        error: BaseException | None = None,
    ) -> Slot:
        index = len(self._slots)
        try:
            if error is not None:
                raise error
            knobs = self._knobs(trial)
            if name is None:  # recorded before the job can be submitted (Rule 1)
                nonce = secrets.token_hex(8)
                trial.set_user_attr(JOB_NONCE_ATTR, nonce)
                name = f"{self._factory.job_name(f't{trial.number}', knobs)} #{nonce}"
                trial.set_user_attr(JOB_NAME_ATTR, name)
            slot = self._factory.make(index, knobs, job_id=job_id, name=name)
        except Exception as exc:
            if exc is not error:
                logger.warning("trial %d: bad config from space: %s", trial.number, exc)
            slot = Slot(Run(index, job_id, dict(trial.params), f"trial-{trial.number}"), error=exc)
        slot.trial = trial
        slot.state = "running"
        self._reporters[index] = TrialReporter(trial, self._monitor, reported)
        self._slots.append(slot)
        self._subject.on_next(slot)
        self._heartbeats.add(trial._trial_id)
        return slot

    async def _until_ended(self, slot: Slot) -> None:
        """A stopped run's job winds down after its cancel: its trial stays ``RUNNING`` (and
        counts against ``max_running``) until the backend says the job ended, however long
        that takes. Only an answer that retrying cannot change (the job is gone, the token
        refused) ends the wait early; it is logged."""
        result = slot.result
        if result is None or result.job.is_terminal:
            return
        client = self._factory.client
        delay = _WIND_DOWN_POLL[0]
        while True:
            try:
                if (await client.get_job(result.job.id)).is_terminal:
                    return
            except CloudApiError as exc:
                if exc.is_permanent:
                    logger.warning("job %s: cannot see it end: %s", result.job.id, exc)
                    return
            except ArkorError as exc:  # no answer: the backend may be back soon
                logger.debug("job %s: no answer yet: %s", result.job.id, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, _WIND_DOWN_POLL[1])

    def _exhaust(self) -> None:
        if not self._exhausted:
            self._exhausted = True
            self._subject.on_completed()

    def started(self, slot: Slot) -> None:
        if slot.trainer is not None and slot.trainer.job_id is not None:
            slot.trial.set_user_attr(JOB_ID_ATTR, slot.trainer.job_id)

    def seen(self, slot: Slot, event: TrainingEvent) -> StopDecision | None:
        reporter = self._reporters.get(slot.base.index)
        return None if reporter is None else reporter.see(event)

    async def finished(self, slot: Slot) -> None:
        trial = slot.trial
        await self._until_ended(slot)
        self._heartbeats.discard(trial._trial_id)
        state = self._optuna.trial.TrialState
        result = slot.result
        value = slot.track.value
        try:
            adopter = self._study._storage.get_trial(trial._trial_id).user_attrs.get(ADOPTED_ATTR)
            if adopter not in (None, self._driver):
                # This driver looked dead for a while (a stall longer than the grace period):
                # another one adopted the trial and followed the same job; it tells.
                logger.warning("trial %d was adopted by %s, which tells it", trial.number, adopter)
                return
            if result is not None and result.stop is not None:
                # Pruned at the decision's step even when the job completed before its
                # cancel reached it (the stream was behind the job): the values after the
                # decision were never reported, so no final value can be told.
                reason = f"{result.stop.rule}: {result.stop.reason}"
                if result.status == "completed":
                    reason += " (the job completed before its cancel)"
                trial.set_user_attr(REASON_ATTR, reason)
                self._study.tell(trial, state=state.PRUNED)
                return
            if result is not None and result.status == "completed":
                if value is not None and not math.isnan(value):
                    self._study.tell(trial, value)
                    return
                reason = f"the job completed but its final {self._monitor} is {value}"
            else:
                outcome = slot.outcome()
                reason = outcome.reason or f"the run ended {outcome.outcome}"
            trial.set_user_attr(REASON_ATTR, reason)
            self._study.tell(trial, state=state.FAIL)
        except Exception as exc:  # the study refused (e.g. the trial was told elsewhere)
            logger.warning("could not tell trial %d: %s", trial.number, exc)
