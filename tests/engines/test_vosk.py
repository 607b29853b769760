"""The Korean offline engine on real Zeroth speech."""


import numpy as np

from stt_notebook import Final, Interim, SpeechStarted, UtteranceEnd, audio
from stt_notebook.text.korean import plain as clean_token, sino_korean

from tests.support import KO_CLIPS, auroc, check_words, corpus_cer, korean_right, squash_ko, stream_events


def test_sino_korean_numbers():
    assert [sino_korean(n) for n in (0, 3, 10, 18, 2018, 10000, 35000, 100000000)] == \
        ["영", "삼", "십", "십팔", "이천십팔", "만", "삼만오천", "일억"]


def test_odd_tokens_become_plain_hangul():
    assert clean_token("[3]") == "삼"
    assert clean_token("(천)") == "천"
    assert clean_token("<unk>") == ""
    assert clean_token("대통령이") == "대통령이"


def test_zeroth_corpus_cer_within_15_percent_and_low_confidence_marks_the_wrong_words(zeroth):
    transcripts = [zeroth[p.name] for p, _ in KO_CLIPS]
    hyps = [t.text for t in transcripts]
    refs = [r for _, r in KO_CLIPS]
    cer = corpus_cer(refs, hyps)
    print(f"vosk Zeroth CER over {len(refs)} clips: {cer:.3f}")
    assert cer <= 0.15
    assert all("[" not in h and "(" not in h for h in hyps)
    # the confidence timeline flags the words a reader should doubt: with the model's own lattice
    # 70% of words sat at 1.0 and AUROC was 0.80-0.82 (benchmarks/confidence.py). Ours measured
    # 0.840-0.866 from one process to another (Vosk is not bit-exact across processes, one clip at a
    # time or ten at once, idle or busy), so the bar sits below that spread and above the lattice's
    confidence = [c for t in transcripts for c in t.words.confidence]
    right = [ok for t, ref in zip(transcripts, refs) for ok in korean_right(list(t.words.word), ref)]
    assert auroc(confidence, right) >= 0.83, auroc(confidence, right)
    assert np.mean(np.asarray(confidence) >= 1.0) < 0.5


async def test_live_stream_interims_come_before_their_final(ko_clip):
    path, ref = ko_clip
    t, events = await stream_events(audio.load_pcm16(path), "ko", "vosk", frame_ms=20)
    kinds = [type(e) for e in events]
    first_final = kinds.index(Final)
    assert Interim in kinds[:first_final]
    assert kinds.index(SpeechStarted) < kinds.index(Interim)
    assert UtteranceEnd in kinds
    check_words(events)
    assert corpus_cer([ref], [t.text]) < 0.2


async def test_stop_mid_utterance_still_gives_the_final(ko_clip):
    path, ref = ko_clip
    pcm = audio.load_pcm16(path)
    cut = len(pcm) // 2 // 2 * 2
    t, events = await stream_events(pcm[:cut], "ko", "vosk")
    finals = [e for e in events if isinstance(e, Final)]
    assert finals and finals[-1].from_finalize
    heard = squash_ko(t.text)
    assert len(heard) >= 8 and squash_ko(ref).startswith(heard[:4])
    assert t.words["end"].max() <= audio.duration(pcm[:cut]) + 0.05


async def test_timestamps_run_on_across_utterances():
    a = audio.load_audio(KO_CLIPS[7][0])
    b = audio.load_audio(KO_CLIPS[4][0])
    gap = np.zeros(32000, np.float32)
    offset = (len(a) + len(gap)) / 16000
    t_b, _ = await stream_events(audio.float_to_pcm16(b), "ko", "vosk")
    t, events = await stream_events(audio.float_to_pcm16(np.concatenate([a, gap, b])), "ko", "vosk")
    assert len(t) >= 2
    utts = t.utterances
    assert list(utts["start"]) == sorted(utts["start"])
    second = t.words[t.words["start"] >= offset - 0.1]
    assert len(second) > 3
    # the same speech is placed where it is in the stream, not at 0
    assert abs(second["start"].iloc[0] - (offset + t_b.words["start"].iloc[0])) < 0.3
    check_words(events)


def test_the_tuned_model_folder_links_the_model_and_never_writes_to_it(tmp_path, monkeypatch):
    from stt_notebook.engines.vosk import with_lattice_beam

    model = tmp_path / "model"
    (model / "conf").mkdir(parents=True)
    (model / "am").mkdir()
    (model / "am" / "final.mdl").write_bytes(b"weights")
    (model / "conf" / "mfcc.conf").write_text("--num-ceps=40\n")
    (model / "conf" / "model.conf").write_text("--beam=10.0\n--lattice-beam=2.0\n")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    tuned = with_lattice_beam(model, 8.0)
    assert tuned.is_relative_to(tmp_path / "cache")
    assert (tuned / "conf" / "model.conf").read_text() == "--beam=10.0\n--lattice-beam=8\n"
    assert (tuned / "am" / "final.mdl").read_bytes() == b"weights" and (tuned / "conf" / "mfcc.conf").is_file()
    assert (model / "conf" / "model.conf").read_text() == "--beam=10.0\n--lattice-beam=2.0\n"
    assert with_lattice_beam(model, 8.0) == tuned  # made once
    (tmp_path / "not-a-folder").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "not-a-folder"))  # no cache here: the temp folder serves
    assert (with_lattice_beam(model, 8.0) / "conf" / "model.conf").read_text().endswith("--lattice-beam=8\n")
