"""Built-in sinks and the registry: exactly the wire envelope, and a typo never sends."""

from __future__ import annotations

import io
import json
import sys
import threading
from pathlib import Path

import pytest

from visivo.telemetry.schema import CommandFinished, Envelope, Metadata, to_wire
from visivo.telemetry.sinks.console import ConsoleSink
from visivo.telemetry.sinks.file import FileSink
from visivo.telemetry.sinks.memory import MemorySink
from visivo.telemetry.sinks.null import NullSink
from visivo.telemetry.sinks.registry import FanoutSink, check, resolve

METADATA = Metadata.for_this_process()


def envelope(command: str = "run", stripped: tuple[str, ...] = ()) -> Envelope:
    return Envelope(CommandFinished(command, 3, True), 1764096993.5, METADATA, stripped)


class TestConsoleSink:
    def test_one_json_line_per_envelope(self) -> None:
        """Each envelope is one compact JSON line equal to the wire form."""
        out, notes = io.StringIO(), io.StringIO()
        sink = ConsoleSink(lambda: out, lambda: notes)
        batch = [envelope("run"), envelope("compile")]
        sink.send(batch)
        lines = out.getvalue().splitlines()
        assert [json.loads(line) for line in lines] == [to_wire(e) for e in batch]
        assert notes.getvalue() == ""

    def test_stripped_keywords_are_named_on_the_notice_stream(self) -> None:
        """Stripped keyword names (never values) go to the notice stream, not the data."""
        out, notes = io.StringIO(), io.StringIO()
        ConsoleSink(lambda: out, lambda: notes).send([envelope(stripped=("sql", "user"))])
        assert "stripped keywords not in the schema: sql, user" in notes.getvalue()
        assert "sql" not in out.getvalue()


class TestFileSink:
    def test_appends_json_lines(self, tmp_path: Path) -> None:
        """Batches are appended, never overwritten, as JSON lines."""
        path = tmp_path / "events.jsonl"
        path.write_text('{"existing": true}\n')
        sink = FileSink(path)
        sink.send([envelope("run")])
        sink.send([envelope("compile")])
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        assert lines[0] == {"existing": True}
        assert [line["properties"]["command"] for line in lines[1:]] == ["run", "compile"]

    def test_missing_directory_raises_for_the_batcher_to_count(self, tmp_path: Path) -> None:
        """A path in a missing directory fails loudly to the batcher (which counts it)."""
        with pytest.raises(FileNotFoundError):
            FileSink(tmp_path / "nope" / "x.jsonl").send([envelope()])


class TestMemorySink:
    def test_returns_snapshots(self) -> None:
        """Reads are copies: changing them does not change the sink."""
        sink = MemorySink()
        sink.send([envelope()])
        first = sink.wire()
        first.clear()
        assert len(sink.wire()) == 1
        sink.clear()
        assert sink.wire() == []


class TestFanout:
    def test_one_failing_sink_does_not_stop_the_others(self) -> None:
        """Every sink gets the batch; the first error is re-raised for counting."""

        class Broken:
            def send(self, batch: object) -> None:
                raise OSError("disk full")

            def close(self, timeout: float) -> None:
                pass

        memory = MemorySink()
        with pytest.raises(OSError, match="disk full"):
            FanoutSink([Broken(), memory]).send([envelope()])
        assert len(memory.wire()) == 1


class TestRegistry:
    def resolve(self, spec: str | None) -> tuple[object, list[str]]:
        warnings: list[str] = []
        resolved = resolve(spec, endpoint="http://127.0.0.1:9/", env={}, warn=warnings.append)
        return resolved, warnings

    @pytest.mark.parametrize(
        ("spec", "kind"),
        [
            ("null", NullSink),
            ("memory", MemorySink),
            ("stdout", ConsoleSink),
            (" STDERR ", ConsoleSink),
            ("file:/tmp/x.jsonl", FileSink),
        ],
    )
    def test_builtins(self, spec: str, kind: type) -> None:
        """Each built-in name resolves to its sink without warnings."""
        resolved, warnings = self.resolve(spec)
        assert isinstance(resolved.sink, kind)  # type: ignore[attr-defined]
        assert warnings == []

    def test_comma_separated_fans_out(self) -> None:
        """A list of names builds one sink per name."""
        resolved, _ = self.resolve("memory,stdout")
        assert isinstance(resolved.sink, FanoutSink)  # type: ignore[attr-defined]
        assert resolved.names == ("memory", "stdout")  # type: ignore[attr-defined]

    @pytest.mark.parametrize("spec", ["stdot", "http,stdot", "stdout,htp"])
    def test_a_typo_never_sends(self, spec: str) -> None:
        """Any unknown name makes the whole spec the null sink, with exactly one warning."""
        resolved, warnings = self.resolve(spec)
        assert isinstance(resolved.sink, NullSink)  # type: ignore[attr-defined]
        assert len(warnings) == 1
        assert "unknown sink" in warnings[0]
        assert check(spec)[0] == ("null",)

    def test_file_without_path(self) -> None:
        """file without a path sends nothing and says why."""
        resolved, warnings = self.resolve("file")
        assert isinstance(resolved.sink, NullSink)  # type: ignore[attr-defined]
        assert "file:PATH" in warnings[0]

    def test_stdout_follows_a_replaced_sys_stdout(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The stdout sink writes to whatever sys.stdout is at send time."""
        resolved, _ = self.resolve("stdout")
        replaced = io.StringIO()
        monkeypatch.setattr(sys, "stdout", replaced)
        resolved.sink.send([envelope()])  # type: ignore[attr-defined]
        assert json.loads(replaced.getvalue())["event"] == "command_finished"


def test_file_sink_is_safe_across_threads(tmp_path: Path) -> None:
    """Concurrent batches never interleave inside a line."""
    path = tmp_path / "events.jsonl"
    sink = FileSink(path)
    threads = [threading.Thread(target=sink.send, args=([envelope()] * 50,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    lines = path.read_text().splitlines()
    assert len(lines) == 400
    assert all(json.loads(line)["event"] == "command_finished" for line in lines)
