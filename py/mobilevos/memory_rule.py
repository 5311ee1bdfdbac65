"""The memory rule, written once as data: which slots the memory has, which call's entry fills each, and which grow.

A tracker makes two kinds of call: *annotate* (a frame with an annotation: the first frame or a re-annotation) and
*track* (every later frame). Each call encodes one memory entry (key, value) and the rule says where it goes:

* a slot without `keep_every` holds one entry, replaced by the entry of every call whose `update` names it; a slot
  only the annotate call fills is *permanent* until the next annotation;
* a slot with `keep_every=k` *grows*: of the entries of the calls that fill it, it keeps, in order, those of the frames
  since the annotation (the annotated frame is frame 0) whose index is a multiple of k; an annotate call starts it
  over.

A call reads every slot's entries, slots in their listed order, so the last slot must hold the previous frame's entry
(`SpaceTimeNetwork.segment` relies on it). The rules in use:

* `STUDENT`   finite memory, first + previous: every call reads two entries, whatever the video's length. The export
              writes it into manifest.json's `memory` section (`manifest_memory`), from which the onnxruntime tracker
              and the web app's bank (web/src/memory-bank.js) read it;
* `TEACHER`   growing memory for inference: the annotated frame, every 5th frame after it, and the previous frame;
* `TEACHER_TRAINING`  growing memory for the training unroll: every earlier frame (see its `note` for why).

Users keep their entries in a plain dict (slot name -> entry, or list of entries for a growing slot) and call
`store` and `read`; tests/memory_rule_cases.json runs the same call sequences through every user.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

CALLS = ("annotate", "track")


@dataclass(frozen=True)
class Slot:
    """One memory slot: its name, what it holds, and its growth (None: one entry)."""

    name: str
    meaning: str
    keep_every: int | None = None

    def __post_init__(self):
        if self.keep_every is not None and self.keep_every < 1:
            raise ValueError(f"keep_every must be >= 1 or None, got {self.keep_every}")


@dataclass(frozen=True)
class MemoryRule:
    """Slots in read order and, per call, the slots its entry fills; `note` says why, where that is not obvious."""

    slots: tuple[Slot, ...]
    update: Mapping[str, tuple[str, ...]]
    note: str = field(default="", compare=False)

    def __post_init__(self):
        names = [s.name for s in self.slots]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"memory slots must be named uniquely, got {names}")
        if sorted(self.update) != sorted(CALLS):
            raise ValueError(f"the rule must say which slots each call fills ({', '.join(CALLS)})")
        for call, filled in self.update.items():
            unknown = set(filled) - set(names)
            if not filled or unknown:
                raise ValueError(f"the {call} call must fill known slots, got {list(filled)}")

    @property
    def keep_every(self) -> int | None:
        """The growth of the memory: the first growing slot's `keep_every`, None for finite memory."""
        return next((s.keep_every for s in self.slots if s.keep_every is not None), None)

    def store(self, slots: dict[str, Any], call: str, entry: Any, frame_index: int) -> None:
        """Put `entry`, the entry of `call` on frame `frame_index` (counted from the annotated frame, which is 0), into
        `slots` (slot name -> entry, or list of entries for a growing slot) as the rule says."""
        if call == "annotate":  # a growing slot holds the frames since the annotation
            slots.update({s.name: [] for s in self.slots if s.keep_every is not None})
        for slot in self.slots:
            if slot.name not in self.update[call]:
                continue
            if slot.keep_every is None:
                slots[slot.name] = entry
            elif frame_index % slot.keep_every == 0:
                slots[slot.name].append(entry)

    def read(self, slots: dict[str, Any]) -> list:
        """The entries a call reads from `slots`, in the rule's order; RuntimeError if a slot was never filled."""
        entries = []
        for slot in self.slots:
            if slot.name not in slots:
                raise RuntimeError(f"memory slot {slot.name} is empty: annotate a frame first")
            entries.extend(slots[slot.name] if slot.keep_every is not None else [slots[slot.name]])
        return entries

    def manifest_memory(self, entry: dict[str, str]) -> dict:
        """The `slots`, `entry` and `update` of manifest.json's `memory` section for graphs whose memory inputs are
        key{i}/value{i} (slot i in read order) and whose entry outputs are `entry` ({"key": ..., "value": ...})."""
        if self.keep_every is not None:
            raise ValueError("an exported graph reads a fixed number of memory inputs: the rule cannot grow")
        return {
            "slots": [
                {"name": s.name, "key": f"key{i}", "value": f"value{i}", "meaning": s.meaning}
                for i, s in enumerate(self.slots)
            ],
            "entry": dict(entry),
            "update": {call: list(self.update[call]) for call in CALLS},
        }

    @classmethod
    def from_manifest(cls, memory: dict) -> MemoryRule:
        """The rule of a manifest's (validated) `memory` section."""
        return cls(
            tuple(Slot(s["name"], s["meaning"]) for s in memory["slots"]),
            {call: tuple(memory["update"][call]) for call in CALLS},
        )


def teacher_rule(keep_every: int) -> MemoryRule:
    """Growing memory: the annotated frame, every `keep_every`-th frame after it, and the previous frame."""
    return MemoryRule(
        (
            Slot("kept", f"the annotated frame's entry and every {keep_every}-th frame's after it", keep_every),
            Slot("previous", "the previous frame's entry"),
        ),
        {"annotate": ("kept", "previous"), "track": ("kept", "previous")},
    )


STUDENT = MemoryRule(
    (
        Slot("first", "the annotated frame's entry; permanent until the next annotation"),
        Slot("previous", "the previous frame's entry"),
    ),
    {"annotate": ("first", "previous"), "track": ("previous",)},
)
TEACHER = teacher_rule(5)
TEACHER_TRAINING = MemoryRule(
    (Slot("earlier", "every earlier frame's entry", 1),),
    {"annotate": ("earlier",), "track": ("earlier",)},
    note="Training clips are 3-4 frames long (TrainConfig.clip_len), where every 5th frame would leave only the "
    "annotated and the previous frame: reading every earlier frame, the teacher learns to read more than two "
    "entries, as it does at inference on longer videos. The shipped teacher was trained so.",
)


def inference_rule(keep_every: int | None) -> MemoryRule:
    """`STUDENT`'s finite memory for None, else growing memory that keeps every `keep_every`-th frame."""
    return STUDENT if keep_every is None else teacher_rule(keep_every)
