"""The connection state machine, stepped by hand: commands in with a clock the test holds, actions
out, the runner's reports (done / failed) played by the test. No loop, no session, no sleep."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from stt_notebook.errors import ErrorCode
from stt_notebook.events import Error
from stt_notebook.wire.connection import (Connection, Feed, Finish, Flush, Limits, Open, Reconfigure, Release, State,
                                          Tell, Work)
from stt_notebook.wire.vocabulary import (DRAIN, Audio, Close, Closing, Configure, Configured, Finalize, KeepAlive,
                                          ProtocolError, Start, Started, Stop, Stopped)

TENTH = bytes(3200)  # 0.1 s of PCM16 16 kHz


def told(actions):
    return [a.outcome for a in actions if isinstance(a, Tell)]


def work(actions):
    return [a for a in actions if isinstance(a, Work.__args__)]


def test_a_start_opens_one_session_and_audio_waits_until_it_is_listening():
    c = Connection(Limits(), now=0.0)
    assert work(c.receive(Start("echo"), 0.0)) == [Open(Start("echo"))] and c.state is State.OPENING
    assert c.receive(Audio(TENTH), 0.1) == [] and len(c.queue) == 1  # the engine is still loading: kept, in order
    actions = c.done(2.0, "echo")
    assert told(actions) == [Started("echo")] and work(actions) == [Feed(TENTH, 2.0)] and c.state is State.LISTENING


def test_audio_faster_than_the_limit_is_fed_later_and_past_the_queue_is_refused():
    c = Connection(Limits(max_realtime_factor=2.0, burst_seconds=0.0, max_queued_frames=2), now=0.0)
    c.receive(Start("echo"), 0.0)
    c.done(0.0, "echo")
    second = bytes(32000)
    [feed] = work(c.receive(Audio(second), 0.0))
    assert feed.at == 0.5  # 1 s of audio at 2× real time: no earlier than 0.5 s
    assert c.receive(Audio(second), 0.0) == [] and c.receive(Audio(second), 0.0) == []  # queued behind it
    [refusal] = told(c.receive(Audio(second), 0.0))
    assert refusal.code == ErrorCode.RATE_LIMITED and len(c.queue) == 2
    assert told(c.receive(Stop(), 0.0)) == []  # control commands always get through, in order
    [feed] = work(c.done(0.5))
    assert feed.at == 1.0
    [feed] = work(c.done(1.0))
    assert feed.at == 1.5
    assert work(c.done(1.5)) == [Finish()]


def test_a_drain_feeds_what_is_queued_at_once_and_closes_after_the_finals():
    c = Connection(Limits(max_realtime_factor=1.0, burst_seconds=0.0), now=0.0)
    c.receive(Start("echo"), 0.0)
    c.done(0.0, "echo")
    c.receive(Audio(bytes(32000)), 0.0)
    c.receive(Audio(bytes(32000)), 0.0)
    assert c.receive(DRAIN, 0.2) == []
    [feed] = work(c.done(0.3))
    assert feed.at == 0.3  # unpaced now
    assert work(c.done(0.3)) == [Finish()]
    actions = c.done(0.4, (None, 2.0))
    assert told(actions) == [Stopped(None, 2.0), Closing("drain", DRAIN.message)] and c.state is State.CLOSED
    assert c.receive(Audio(TENTH), 0.5) == []  # closed: nothing more is taken


def test_a_drain_whose_time_runs_out_says_so_and_releases_the_session():
    c = Connection(Limits(), now=0.0)
    c.receive(Start("whisper"), 0.0)  # a model still loading
    c.receive(DRAIN, 1.0)
    actions = c.expire()
    assert [type(o) for o in told(actions)] == [Error, Closing] and told(actions)[0].code == ErrorCode.SHUTTING_DOWN
    assert actions[-1] == Release() and c.state is State.CLOSED


def test_the_idle_timeout_counts_from_the_last_message_and_never_while_work_is_in_flight():
    c = Connection(Limits(idle_timeout=10.0), now=0.0)
    assert c.deadline() == 10.0 and c.tick(9.9) == []
    c.receive(KeepAlive(), 5.0)
    assert c.deadline() == 15.0
    c.receive(Audio(TENTH), 6.0)  # audio starts a session like the last Start
    assert c.state is State.OPENING and c.deadline() is None and c.tick(100.0) == []
    c.done(30.0, "echo")  # a long model load: the time counts from its end
    c.done(30.0)
    assert c.deadline() == 40.0
    assert work(c.tick(40.0)) == [Finish()]  # the finals of what was received first
    actions = c.done(40.5, (None, 0.1))
    assert [type(o) for o in told(actions)] == [Stopped, Closing] and told(actions)[-1].why == "idle"
    assert "10 s" in told(actions)[-1].message and c.deadline() is None


def test_a_refused_start_drops_its_audio_and_a_later_start_runs():
    c = Connection(Limits(), now=0.0)
    bad = ProtocolError(ErrorCode.INVALID_CONFIG, "bad", start=True)
    assert [o.code for o in told(c.receive(bad, 0.0))] == [ErrorCode.INVALID_CONFIG]
    assert c.receive(Audio(TENTH), 0.1) == []  # not run as some default session
    assert work(c.receive(Start("echo"), 0.2)) == [Open(Start("echo"))]
    c.failed(0.3, ErrorCode.ENGINE_UNAVAILABLE, "no key")
    assert c.state is State.READY and c.receive(Audio(TENTH), 0.4) == []


def test_a_new_start_finishes_the_running_session_first():
    c = Connection(Limits(), now=0.0)
    c.receive(Start("echo"), 0.0)
    c.done(0.0, "echo")
    assert work(c.receive(Start("whisper"), 1.0)) == [Finish()]
    actions = c.done(1.1, (None, 0.0))
    assert told(actions) == [Stopped(None, 0.0)] and work(actions) == [Open(Start("whisper"))]


def test_configure_goes_to_the_session_or_to_the_next_one():
    c = Connection(Limits(), now=0.0)
    options = {"numerals": True}
    assert told(c.receive(Configure((("numerals", True),)), 0.0)) == [Configured(options)]
    assert c.last_start.config.numerals
    c.receive(Start("echo"), 0.0)
    c.done(0.0, "echo")
    assert work(c.receive(Configure((("numerals", False),)), 1.0)) == [Reconfigure({"numerals": False})]
    assert [o.code for o in told(c.failed(1.1, "CONFIGURE_INTERNAL_ERROR", "no"))] == ["CONFIGURE_INTERNAL_ERROR"]
    assert c.state is State.LISTENING  # a refused configure ends nothing


def test_a_one_session_stream_closes_when_it_stops_or_cannot_start():
    c = Connection(Limits(), now=0.0, one_session=True)
    c.receive(Start("vosk"), 0.0)
    actions = c.failed(1.0, ErrorCode.MODEL_NOT_FOUND, "no model")
    assert told(actions)[-1] == Closing("failed", "no model") and c.state is State.CLOSED
    c = Connection(Limits(), now=0.0, one_session=True)
    c.receive(Start("echo"), 0.0)
    c.done(0.0, "echo")
    c.receive(Finalize(), 0.1)
    c.done(0.1)
    assert work(c.receive(Stop(), 0.2)) == [Finish()]
    assert told(c.done(0.3, (None, 0.1)))[-1] == Closing("stopped")


# -- any sequence: the machine never breaks its own rules --
COMMANDS = st.one_of(
    st.sampled_from([0, 3200, 32000]).map(lambda n: Audio(bytes(n))),
    st.sampled_from([Finalize(), KeepAlive(), Stop(), Start("echo"), DRAIN, Close("idle"),
                     Configure((("numerals", True),)),
                     ProtocolError(ErrorCode.INVALID_JSON, "bad"), ProtocolError(ErrorCode.INVALID_CONFIG, "bad", start=True)]))


class AnyClient(RuleBasedStateMachine):
    """Random commands, random reports of the work in flight, the clock moving on."""

    def __init__(self):
        super().__init__()
        self.c = Connection(Limits(max_queued_frames=3, idle_timeout=5.0), now=0.0)
        self.now = 0.0
        self.outcomes: list = []

    def _take(self, actions):
        in_flight = [a for a in actions if isinstance(a, Work.__args__)]
        assert len(in_flight) <= 1 and (not in_flight or self.c.pending == in_flight[0])
        self.outcomes += told(actions)

    @rule(command=COMMANDS, later=st.floats(0, 3))
    def receive(self, command, later):
        self.now += later
        self._take(self.c.receive(command, self.now))

    @precondition(lambda self: self.c.pending is not None)
    @rule(ok=st.booleans())
    def report(self, ok):
        self.now += 0.1
        value = "echo" if isinstance(self.c.pending, Open) else (None, 0.0) if isinstance(self.c.pending, Finish) else None
        self._take(self.c.done(self.now, value) if ok else self.c.failed(self.now, ErrorCode.ENGINE_ERROR, "x"))

    @rule(later=st.floats(0, 20))
    def wait(self, later):
        self.now += later
        self._take(self.c.tick(self.now))

    @invariant()
    def its_rules_hold(self):
        c = self.c
        assert len([o for o in self.outcomes if isinstance(o, Closing)]) <= 1
        assert (c.state is State.CLOSED) == any(isinstance(o, Closing) for o in self.outcomes)
        assert c.state is not State.CLOSED or (not c.queue and c.deadline() is None)
        assert sum(isinstance(q, Audio) for q in c.queue) <= c.limits.max_queued_frames
        assert c.pending is None or c.state in (State.OPENING, State.LISTENING, State.STOPPING)
        assert not isinstance(c.pending, (Feed, Flush, Reconfigure)) or c.state is State.LISTENING
        if c.pending is None and c.state is not State.CLOSED:
            assert not c.queue  # nothing waits unless work is in flight
            assert c.deadline() == c.last_seen + c.limits.idle_timeout


AnyClient.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
test_any_command_sequence_keeps_the_machines_rules = AnyClient.TestCase


@settings(max_examples=300, deadline=None)
@given(st.lists(COMMANDS, max_size=30))
def test_every_sequence_ends_closed_after_a_drain_once_the_work_is_done(commands):
    """Whatever came before, a drain (the work in flight then reported done) ends in one Closing."""
    c, now, outcomes = Connection(Limits(), now=0.0), 0.0, []
    for command in [*commands, DRAIN]:
        now += 0.05
        outcomes += told(c.receive(command, now))
    for _ in range(200):
        if c.pending is None:
            break
        value = "echo" if isinstance(c.pending, Open) else (None, 0.0) if isinstance(c.pending, Finish) else None
        outcomes += told(c.done(now, value))
    assert c.state is State.CLOSED and [o for o in outcomes if isinstance(o, Closing)][-1:] != []
