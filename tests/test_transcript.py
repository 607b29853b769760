"""Transcript: events in, DataFrames, plots and files out."""

import matplotlib

matplotlib.use("Agg")

from stt_notebook import Final, Interim, SpeechStarted, Transcript, UtteranceEnd, Word


def _events():
    w = [Word("안녕하세요", 0.5, 1.0, 0.95), Word("반갑습니다", 1.1, 1.8, 0.4),
         Word("오늘은", 3.0, 3.4, 0.9), Word("좋은", 3.5, 3.8, 0.85), Word("날", 3.9, 4.2, 0.3)]
    return [
        SpeechStarted(0.45),
        Interim("안녕하", 0.9, 0.5, 0.9, (w[0],)),
        Final("안녕하세요 반갑습니다", 0.675, 0.5, 1.8, tuple(w[:2]), speech_final=True),
        UtteranceEnd(1.8),
        SpeechStarted(2.9),
        Final("오늘은", 0.9, 3.0, 3.4, (w[2],)),  # one utterance in two finals
        Interim("좋은 날", 0.6, 3.5, 4.2, tuple(w[3:])),
        Final("좋은 날", 0.575, 3.5, 4.2, tuple(w[3:]), speech_final=True, from_finalize=True),
    ]


def test_utterances_and_words_frames():
    t = Transcript(_events(), language="ko", engine="vosk")
    u = t.utterances
    assert list(u.columns) == ["utterance", "start", "end", "text", "confidence", "speaker", "n_words", "language"]
    assert list(u["text"]) == ["안녕하세요 반갑습니다", "오늘은 좋은 날"]
    assert list(u["n_words"]) == [2, 3] and u.loc[1, "start"] == 3.0 and u.loc[1, "end"] == 4.2
    assert abs(u.loc[0, "confidence"] - 0.675) < 1e-9
    words = t.words
    assert list(words.columns) == ["utterance", "word", "start", "end", "confidence", "speaker"]
    assert list(words["utterance"]) == [0, 0, 1, 1, 1]
    assert len(t.interims) == 2 and list(t.interims["utterance"]) == [0, 1]
    assert t.text == "안녕하세요 반갑습니다\n오늘은 좋은 날"
    assert t.speech_starts == [0.45, 2.9] and t.utterance_ends == [1.8]


def test_interim_is_replaced_then_cleared_by_the_final():
    t = Transcript()
    t.add(Interim("a", 0.5, 0, 1))
    t.add(Interim("a b", 0.5, 0, 2))
    assert t.interim.text == "a b"
    t.add(Final("a b c", 0.9, 0, 3, (Word("a", 0, 1, 0.9),)))
    assert t.interim is None and len(t.words) == 1


def test_srt_vtt_and_json_round_trip(tmp_path):
    t = Transcript(_events(), language="ko", engine="vosk", source="clip.flac")
    srt = t.to_srt()
    assert srt.startswith("1\n00:00:00,500 --> 00:00:01,800\n안녕하세요 반갑습니다\n")
    assert "2\n00:00:03,000 --> 00:00:04,200\n오늘은 좋은 날" in srt
    vtt = t.to_vtt()
    assert vtt.startswith("WEBVTT\n\n00:00:00.500 --> 00:00:01.800\n")
    path = tmp_path / "t.json"
    t.save(path)
    back = Transcript.load(path)
    assert back.events == t.events and back.source == "clip.flac"
    assert back.utterances.equals(t.utterances)
    assert Transcript.from_json(t.to_json()).text == t.text


def test_long_utterances_split_into_readable_cues():
    words = tuple(Word(f"w{i}", i * 0.5, i * 0.5 + 0.4, 0.9) for i in range(40))
    t = Transcript([Final(" ".join(w.text for w in words), 0.9, 0, 20, words, speech_final=True)])
    cues = t.to_srt().strip().split("\n\n")
    assert len(cues) >= 4  # 20 s of speech never becomes one subtitle


def test_repr_and_html_say_what_is_inside():
    t = Transcript(_events(), language="ko", engine="vosk")
    r = repr(t)
    assert "2 utterances" in r and "5 words" in r and "안녕하세요" in r
    h = t._repr_html_()
    assert "<table" in h and "오늘은 좋은 날" in h


def test_confidence_plot_marks_low_words():
    t = Transcript(_events())
    ax = t.plot_confidence(low=0.5)
    labels = [a.get_text() for a in ax.texts]
    assert sorted(labels) == ["날", "반갑습니다"]
    assert ax.get_xlabel() == "time (s)"


def test_a_korean_plot_draws_hangul_without_missing_glyphs(tmp_path):
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    words = [Word("만약", 0.7, 1.0, 0.99), Word("박근혜", 1.0, 1.5, 0.42), Word("대통령이", 1.5, 2.1, 0.97),
             Word("정말로", 2.1, 2.6, 0.31), Word("손을", 2.6, 2.9, 0.95)]
    t = Transcript([Final("만약 박근혜 대통령이 정말로 손을", 0.73, 0.7, 2.9, tuple(words), speech_final=True)],
                   language="ko", source="회의.wav")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ax = t.plot_confidence()
        ax.figure.savefig(tmp_path / "ko.png")
    assert not [w for w in caught if "missing from font" in str(w.message)], [str(w.message) for w in caught]
    labels = [a.get_text() for a in ax.texts]
    assert labels == ["박근혜", "정말로"]  # the doubtful words, labelled in Hangul
    assert "threshold 0.6" in [text.get_text() for text in ax.get_legend().get_texts()]
    assert (tmp_path / "ko.png").stat().st_size > 10_000


def test_a_plot_draws_every_time_in_a_notebook():
    """In a real kernel, with no %matplotlib line: each call's figure is shown (not only the first)."""
    import nbclient
    import nbformat

    make = ("from stt_notebook import Final, Transcript, Word\n"
            "t = Transcript(language='ko')\n"
            "t.add(Final('안녕하세요 반갑습니다', 0.7, 0.5, 1.8, (Word('안녕하세요', 0.5, 1.0, 0.95), Word('반갑습니다', 1.1, 1.8, 0.4)),"
            " speech_final=True))")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in
                                         (make, "t.plot_confidence()", "t.plot_confidence(low=0.5)")])
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    for cell in nb.cells[1:]:
        assert any("image/png" in o.get("data", {}) for o in cell.outputs), cell.outputs
