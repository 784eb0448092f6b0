"""Hostile experiment files for the loader: mutations of the shipped experiments
(experiments/*.yaml) and hand-made attacks, deterministic by seed.

``cases(seed)`` returns more than 500 ``Case``s. Each carries what the loader must do with it
when that is certain (``"refused"`` or ``"accepted"``), or None when either is fine (a
truncated file may still be a valid experiment). Nothing here touches the disk but reading
the shipped experiments; the test writes each case under its own ``tmp_path``.
"""

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from lab.experiment_yaml import MAX_BYTES as CAP

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"

REFUSED, ACCEPTED, EITHER = "refused", "accepted", None


@dataclass(frozen=True)
class Case:
    name: str            # unique; safe as a file name
    data: bytes
    expect: str | None   # REFUSED, ACCEPTED or EITHER


def shipped() -> dict[str, tuple[str, dict]]:
    """Each shipped experiment: its stem -> (text, parsed document)."""
    return {p.stem: (p.read_text(), yaml.safe_load(p.read_text()))
            for p in sorted(EXPERIMENTS.glob("*.yaml"))}


def _scalar(value) -> str:
    """A value written as a YAML flow scalar (JSON scalars are YAML scalars)."""
    return json.dumps(value, ensure_ascii=False)


def render(doc: dict, raw: dict[str, str] | None = None,
           fault_raw: tuple[int, str, str] | None = None) -> str:
    """``doc`` as YAML: plain fields, then ``raw`` fields written verbatim, then faults one
    flow mapping per line; ``fault_raw`` = (index, key, text) puts text verbatim in a fault."""
    raw = raw or {}
    plain = {k: v for k, v in doc.items() if k != "faults" and k not in raw}
    out = yaml.safe_dump(plain, sort_keys=False, width=10**6, allow_unicode=True) if plain \
        else ""
    out += "".join(f"{k}: {v}\n" for k, v in raw.items())
    faults = doc.get("faults")
    if faults and isinstance(faults, list) and all(isinstance(f, dict) for f in faults):
        out += "faults:\n"
        for i, fault in enumerate(faults):
            parts = [f"{k}: {_scalar(v)}" for k, v in fault.items()
                     if not (fault_raw and fault_raw[0] == i and k == fault_raw[1])]
            if fault_raw and fault_raw[0] == i:
                parts.append(f"{fault_raw[1]}: {fault_raw[2]}")
            out += "  - {" + ", ".join(parts) + "}\n"
    elif "faults" in doc:
        out += f"faults: {_scalar(faults)}\n"
    return out


JUNK = [None, True, False, 0, -1, 1.5, "", "x", "enactor-q", "planner", [], [1, 2], {},
        {"a": 1}, 10**12, -10**12, 1e300, "1e300", "after-freshness-check", "pause",
        "nxdomain", "\u202eevil", "tab\there", "line\nbreak", [None], [[[]]]]

BAD_NUMBERS = {
    "nan": ".nan", "inf": ".inf", "neginf": "-.inf", "bigexp": "1.0e+999",
    "negative": "-1", "zero": "0", "negzero": "-0.0", "tiny": "1.0e-320",
    "digits50": "9" * 50, "digits4301": "9" * 4301, "digits100k": "7" * 100_000,
    "hex": "0x" + "f" * 40, "octal": "0o777", "binary": "0b" + "1" * 70,
    "sexagesimal": ":".join(["59"] * 12), "underscores": "1_000_000_000_000",
    "float-str": '"12"', "bool": "yes", "null": "~", "date": "2001-13-01",
    "fullwidth": "\uff11\uff12", "huge-float": "9" * 30 + ".5",
}
NUMERIC_FIELDS = ["seed", "record_ttl_s", "negative_ttl_s", "planner_period_s",
                  "keep_generations", "clients", "prober_containers", "client_interval_s",
                  "steady_state_s", "max_failed_ratio", "stop_clients_affected_fraction",
                  "duration_s", "hold_stuck_s", "recover_s", "interlock_max_removed_fraction"]
FAULT_NUMERIC = ["at_s", "seconds", "times", "count", "after"]


class _Cases:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.out: list[Case] = []
        self.files = shipped()
        self.race_text, self.race = self.files["dynamodb-race"]

    def add(self, name: str, data: str | bytes, expect: str | None = EITHER) -> None:
        name = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:80]
        name = f"{len(self.out):04d}-{name}"
        self.out.append(Case(name, data.encode() if isinstance(data, str) else data, expect))

    def race_with(self, **changes) -> dict:
        doc = json.loads(json.dumps(self.race))
        doc.update(changes)
        return doc

    # -- mutations of the shipped experiments -------------------------------------------
    def deleted_keys(self) -> None:
        for stem, (_, doc) in self.files.items():
            for key in doc:
                rest = {k: v for k, v in doc.items() if k != key}
                self.add(f"deleted-{stem}-{key}", render(rest),
                         REFUSED if key in ("title", "expect") else EITHER)
            for i, fault in enumerate(doc.get("faults") or []):
                for key in fault:
                    faults = [dict(f) for f in doc["faults"]]
                    del faults[i][key]
                    self.add(f"deleted-{stem}-fault{i}-{key}", render({**doc, "faults": faults}),
                             REFUSED if key == "kind" else EITHER)

    def duplicated_keys(self) -> None:
        for stem, (text, doc) in self.files.items():
            lines = text.splitlines(keepends=True)
            keyed = [i for i, line in enumerate(lines) if re.match(r"[a-z_]+:", line)]
            for i in self.rng.sample(keyed, min(4, len(keyed))):
                self.add(f"duplicated-{stem}-line{i + 1}",
                         "".join(lines[:i + 1] + [lines[i]] + lines[i + 1:]), REFUSED)
            if doc.get("faults"):
                fault = doc["faults"][0]
                key = next(iter(fault))
                self.add(f"duplicated-{stem}-fault-key",
                         render(doc, fault_raw=(0, key, f"{_scalar(fault[key])}, {key}: "
                                                        f"{_scalar(fault[key])}")), REFUSED)
        self.add("duplicated-key-far-apart",
                 render(self.race) + "\n" * 40 + "title: again\n", REFUSED)

    def wrong_types(self) -> None:
        for stem, (_, doc) in self.files.items():
            keys = [k for k in doc if k != "faults"]
            for key in self.rng.sample(keys, min(6, len(keys))):
                junk = self.rng.choice(JUNK)
                self.add(f"wrongtype-{stem}-{key}", render({**doc, key: junk}))
            for i, fault in enumerate(doc.get("faults") or []):
                key = self.rng.choice(sorted(fault))
                faults = [dict(f) for f in doc["faults"]]
                faults[i][key] = self.rng.choice(JUNK)
                self.add(f"wrongtype-{stem}-fault{i}-{key}", render({**doc, "faults": faults}))
            self.add(f"wrongtype-{stem}-faults-mapping",
                     render({**doc, "faults": {"kind": "delay"}}), REFUSED)
            self.add(f"wrongtype-{stem}-faults-scalar", render({**doc, "faults": 3}), REFUSED)
            self.add(f"wrongtype-{stem}-enactors-text",
                     render({**doc, "enactors": "enactor-a"}), REFUSED)

    def numbers(self) -> None:
        certain = {"nan", "inf", "neginf", "bigexp", "digits50", "digits4301", "digits100k",
                   "hex", "binary", "sexagesimal", "float-str", "bool", "date", "fullwidth",
                   "huge-float"}
        for key in NUMERIC_FIELDS:
            for label, text in BAD_NUMBERS.items():
                nullable = key in ("stop_clients_affected_fraction", "recover_s")
                expect = REFUSED if label in certain else EITHER
                if label == "null" and not nullable:
                    expect = REFUSED
                self.add(f"number-{key}-{label}", render(self.race, raw={key: text}), expect)
        for key in FAULT_NUMERIC:
            for label, text in BAD_NUMBERS.items():
                self.add(f"number-fault-{key}-{label}",
                         render(self.race, fault_raw=(1, key, text)),
                         REFUSED if label in certain - {"float-str"} else EITHER)

    def truncated(self) -> None:
        for stem, (text, _) in self.files.items():
            data = text.encode()
            for cut in sorted(self.rng.sample(range(1, len(data)), 10)):
                self.add(f"truncated-{stem}-at{cut}", data[:cut])

    # -- attacks ------------------------------------------------------------------------
    def deep_nesting(self) -> None:
        for depth in (5, 18, 19, 20, 21, 25, 50, 1000, 100_000):
            self.add(f"deep-flow-list-{depth}", "title: t\nexpect: hold\nfaults: "
                     + "[" * depth + "]" * depth + "\n", REFUSED if depth > 1 else EITHER)
            self.add(f"deep-flow-map-{depth}", "title: t\nexpect: hold\nx: "
                     + "{a: " * depth + "1" + "}" * depth + "\n", REFUSED)
            self.add(f"deep-root-{depth}", "[" * depth + "]" * depth, REFUSED)
        for depth in (10, 21, 120):
            self.add(f"deep-block-map-{depth}", "title: t\nexpect: hold\nx:\n" + "".join(
                "  " * (d + 1) + "a:\n" for d in range(depth)) + "  " * (depth + 1) + "b: 1\n",
                REFUSED)
            self.add(f"deep-block-list-{depth}", "title: t\nexpect: hold\nfaults:\n" + "".join(
                "  " * d + "- \n" for d in range(depth)), REFUSED)
        self.add("deep-unclosed", "title: t\nexpect: hold\nfaults: " + "[" * 50_000, REFUSED)

    def alias_bombs(self) -> None:
        laughs = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
        for n in range(1, 9):
            prev, name = chr(ord("a") + n - 1), chr(ord("a") + n)
            laughs.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
        bomb = "\n".join(laughs) + "\n"
        self.add("alias-billion-laughs", bomb, REFUSED)
        self.add("alias-billion-laughs-in-experiment",
                 render(self.race) + bomb.replace("a: &a", "zz: &a"), REFUSED)
        self.add("alias-billion-laughs-as-faults", "title: t\nexpect: hold\ndescription: &d x\n"
                 "faults: " + "[" + ",".join(["*d"] * 2000) + "]\n", REFUSED)
        self.add("alias-title", "title: &t The race\nexpect: outage\ndescription: *t\n", REFUSED)
        self.add("alias-anchor-only", render(self.race).replace("title:", "title: &x", 1),
                 REFUSED)
        self.add("alias-merge-key", "base: &b {seed: 1}\ntitle: t\nexpect: hold\n<<: *b\n",
                 REFUSED)
        self.add("alias-recursive", "title: t\nexpect: hold\nx: &x [*x]\n", REFUSED)
        self.add("alias-undefined", "title: t\nexpect: hold\nx: *nowhere\n", REFUSED)
        self.add("alias-quadratic", "a: &a [" + ",".join(["x"] * 1000) + "]\nb: ["
                 + ",".join(["*a"] * 5000) + "]\n", REFUSED)
        fault = "{at_s: 0, kind: delay, target: enactor-a, step: before-cleanup, seconds: 1}"
        self.add("alias-fault-reused", f"title: t\nexpect: hold\nfaults:\n  - &f {fault}\n"
                 "  - *f\n", REFUSED)

    def control_chars(self) -> None:
        for code in [*range(0x20), 0x7f, *range(0x80, 0xa0)]:
            self.add(f"control-escaped-title-{code:02x}",
                     render(self.race, raw={"title": f'"bad \\x{code:02x} title"'}), REFUSED)
            raw = chr(code)
            if raw not in "\n\r":   # a raw line break just ends the line
                self.add(f"control-raw-title-{code:02x}",
                         render(self.race, raw={"title": f"bad {raw}title"}),
                         EITHER if raw in "\t \x85" else REFUSED)
        for code in (0x07, 0x1b, 0x7f, 0x9b):
            for key in ("description",):
                self.add(f"control-escaped-{key}-{code:02x}",
                         render(self.race, raw={key: f'"x\\x{code:02x}y"'}), REFUSED)
        self.add("control-description-newline-tab",
                 render(self.race, raw={"description": '"one\\ntwo\\tthree"'}), ACCEPTED)
        self.add("control-escaped-key", render(self.race, raw={'"ti\\x1btle"': "t"}), REFUSED)
        self.add("control-escaped-target",
                 render(self.race, fault_raw=(0, "target", '"enactor-a\\x00"')), REFUSED)
        self.add("control-escaped-enactor",
                 render(self.race, raw={"enactors": '["enactor-a\\x07"]'}), REFUSED)
        self.add("control-escaped-step",
                 render(self.race, fault_raw=(0, "step", '"before-cleanup\\x85"')), REFUSED)

    def unicode_oddities(self) -> None:
        titled = {
            "rtl-override": ("\u202e sdrawkcab", REFUSED), "lri": ("a\u2066b", REFUSED),
            "line-separator": ("a\u2028b", REFUSED), "para-separator": ("a\u2029b", REFUSED),
            "noncharacter": ("a\ufffeb", REFUSED), "noncharacter-astral": ("a\U0010ffff", REFUSED),
            "nbsp": ("a\u00a0b", ACCEPTED), "zero-width-space": ("a\u200bb", ACCEPTED),
            "zwj-emoji": ("\U0001f469\u200d\U0001f4bb race", ACCEPTED),
            "combining": ("e\u0301\u0301\u0301", ACCEPTED), "astral": ("\U0001d518 race", ACCEPTED),
            "cjk": ("\u7af6\u5408", ACCEPTED), "bom-inside": ("a\ufeffb", ACCEPTED),
            "only-spaces": ("   ", REFUSED), "replacement-char": ("a\ufffdb", ACCEPTED),
        }
        for label, (title, expect) in titled.items():
            self.add(f"unicode-title-{label}", render(self.race, raw={"title": _scalar(title)}),
                     expect)
        self.add("unicode-surrogate-escape", render(self.race, raw={"title": '"\\ud800"'}),
                 REFUSED)
        self.add("unicode-fullwidth-seed", render(self.race, raw={"seed": "\uff11"}), REFUSED)
        self.add("unicode-homoglyph-key", render(self.race).replace("expect:", "\u0435xpect:"),
                 REFUSED)
        self.add("unicode-nbsp-in-key", render(self.race).replace("seed:", "seed\u00a0:"),
                 REFUSED)
        self.add("unicode-fullwidth-colon", render(self.race).replace("seed:", "seed\uff1a"),
                 REFUSED)
        self.add("unicode-homoglyph-enactor",
                 render(self.race, fault_raw=(0, "target", "enactor-\u0430")), REFUSED)
        self.add("unicode-latin1-bytes", render(self.race).encode().replace(
            b"The October", "The \u00e9".encode("latin-1")), REFUSED)
        self.add("unicode-overlong-utf8", render(self.race).encode().replace(b"title: ",
                                                                             b"title: \xc0\xaf"),
                 REFUSED)
        self.add("unicode-cesu-surrogate", render(self.race).encode().replace(
            b"title: ", b"title: \xed\xa0\x80"), REFUSED)

    def encodings(self) -> None:
        text = render(self.race)
        self.add("bom-utf8", b"\xef\xbb\xbf" + text.encode(), ACCEPTED)
        self.add("bom-utf8-twice", b"\xef\xbb\xbf\xef\xbb\xbf" + text.encode())
        self.add("bom-utf16le", text.encode("utf-16"), REFUSED)
        self.add("bom-utf16be", b"\xfe\xff" + text.encode("utf-16-be"), REFUSED)
        self.add("bom-utf32", text.encode("utf-32"), REFUSED)
        self.add("bom-utf16-no-bom", text.encode("utf-16-le"), REFUSED)
        for n in range(25):
            size = self.rng.choice([1, 2, 7, 64, 512, 4096, 65536])
            self.add(f"binary-random-{n}", bytes(self.rng.getrandbits(8) for _ in range(size)),
                     REFUSED)
        self.add("binary-after-valid", text.encode() + bytes(range(256)), REFUSED)
        self.add("binary-nul-bytes", b"\x00" * 100, REFUSED)
        self.add("binary-nul-in-middle", text.encode().replace(b"expect:", b"\x00expect:"),
                 REFUSED)
        self.add("binary-elf", b"\x7fELF\x02\x01\x01" + b"\x00" * 64, REFUSED)
        self.add("binary-gzip", b"\x1f\x8b\x08\x00" + bytes(60), REFUSED)
        self.add("binary-crlf", text.replace("\n", "\r\n").encode(), ACCEPTED)
        self.add("binary-cr-only", text.replace("\n", "\r").encode(), ACCEPTED)

    def tabs(self) -> None:
        text = render(self.race)
        self.add("tabs-indented-faults", text.replace("\n  - ", "\n\t- "), REFUSED)
        self.add("tabs-after-colon", text.replace("seed: ", "seed:\t"))
        self.add("tabs-in-flow", text.replace(", kind:", ",\tkind:"))
        self.add("tabs-in-title", render(self.race, raw={"title": '"a\\tb"'}), REFUSED)
        self.add("tabs-raw-in-title", render(self.race, raw={"title": "a\tb"}), REFUSED)
        self.add("tabs-trailing", text.replace("\n", "\t\n"))
        self.add("tabs-block-mapping", "title: t\nexpect: hold\nx:\n\ta: 1\n", REFUSED)

    def long_strings(self) -> None:
        for n, expect in ((200, ACCEPTED), (201, REFUSED), (10_000, REFUSED),
                          (200_000, REFUSED)):
            self.add(f"long-title-{n}", render(self.race, raw={"title": "x" * n}), expect)
        self.add("long-description", render(self.race_with(description="word " * 40_000)),
                 ACCEPTED)
        self.add("long-key", render(self.race, raw={"k" * 100_000: 1}), REFUSED)
        self.add("long-enactor", render(self.race_with(enactors=["enactor-" + "a" * 5000])),
                 REFUSED)
        self.add("long-target", render(self.race, fault_raw=(0, "target", "e" * 50_000)),
                 REFUSED)
        text = render(self.race)
        pad = CAP - len(text.encode()) - 2    # the file is exactly CAP bytes, then one more
        self.add("long-comment-at-cap", text + "#" + "c" * pad + "\n", ACCEPTED)
        self.add("long-comment-over-cap", text + "#" + "c" * (pad + 1) + "\n", REFUSED)
        self.add("long-over-cap-10x", text + "#" + "c" * (10 * CAP) + "\n", REFUSED)
        self.add("long-many-faults", render(self.race_with(faults=[
            {"at_s": 1, "kind": "planner-burst", "count": 1}] * 3000)), EITHER)
        self.add("long-many-values", "title: t\nexpect: hold\nx: [" + ",".join(["1"] * 20_000)
                 + "]\n", REFUSED)
        self.add("long-many-keys", "title: t\nexpect: hold\n" + "".join(
            f"k{i}: {i}\n" for i in range(15_000)), REFUSED)

    def documents(self) -> None:
        text = render(self.race)
        self.add("multidoc-two", text + "---\n" + text, REFUSED)
        self.add("multidoc-empty-second", text + "---\n", REFUSED)
        self.add("multidoc-three", "---\n" + text + "---\n" + text + "---\n" + text, REFUSED)
        self.add("multidoc-explicit-start", "---\n" + text, ACCEPTED)
        self.add("multidoc-explicit-end", text + "...\n", ACCEPTED)
        self.add("multidoc-directive", "%YAML 1.1\n---\n" + text, ACCEPTED)
        self.add("multidoc-tag-directive", "%TAG !e! tag:example.com,2000:\n---\n" + text,
                 ACCEPTED)
        self.add("multidoc-bad-directive", "%YAML 9.9\n---\n" + text, REFUSED)
        for label, body in {"empty": "", "blank": "\n\n  \n", "comment": "# nothing\n",
                            "null": "null\n", "tilde": "~\n", "list": "- title: t\n",
                            "empty-list": "[]\n", "empty-map": "{}\n", "int": "42\n",
                            "text": "just words\n", "true": "true\n",
                            "flow-list": "[title, expect]\n", "only-doc-marker": "---\n",
                            "only-end-marker": "...\n"}.items():
            self.add(f"root-{label}", body, REFUSED)

    def tags(self) -> None:
        for label, raw in {"python-apply": '!!python/object/apply:os.system ["true"]',
                           "python-name": "!!python/name:os.system", "binary": "!!binary aGk=",
                           "set": "!!set {a, b}", "omap": "!!omap [{a: 1}]",
                           "timestamp": "!!timestamp 2001-12-14", "custom": "!custom x",
                           "local-verbatim": "!<tag:x.org,2000:y> z",
                           "str-on-map": "!!str {a: 1}", "map-on-seq": "!!map [1]"}.items():
            self.add(f"tag-title-{label}", render(self.race, raw={"title": raw}), REFUSED)
        self.add("tag-str-title", render(self.race, raw={"title": "!!str 2001"}), ACCEPTED)
        self.add("tag-int-seed", render(self.race, raw={"seed": '!!int "12"'}), ACCEPTED)
        self.add("tag-int-bad", render(self.race, raw={"seed": '!!int "twelve"'}), REFUSED)
        self.add("tag-int-empty", render(self.race, raw={"seed": "!!int ''"}), REFUSED)
        self.add("tag-float-empty", render(self.race, raw={"duration_s": "!!float ''"}), REFUSED)
        self.add("tag-bool-maybe", render(self.race, raw={"repair": "!!bool maybe"}), REFUSED)
        self.add("tag-null-title", render(self.race, raw={"title": "!!null x"}), REFUSED)
        self.add("tag-bare-bang", render(self.race, raw={"title": "! The race"}), ACCEPTED)
        self.add("implicit-date-title", render(self.race, raw={"title": "2001-12-14"}), ACCEPTED)
        self.add("implicit-bad-date-title", render(self.race, raw={"title": "2001-13-01"}),
                 ACCEPTED)
        self.add("implicit-bad-date-seed", render(self.race, raw={"seed": "2001-13-01"}),
                 REFUSED)
        self.add("implicit-hex-underscore", render(self.race, raw={"seed": "0x_"}), REFUSED)
        self.add("implicit-bin-underscore", render(self.race, raw={"seed": "0b_"}), REFUSED)
        self.add("implicit-yes-repair", render(self.race, raw={"repair": "yes"}), ACCEPTED)
        self.add("implicit-value-key", render(self.race, raw={"title": "="}), ACCEPTED)

    def keys(self) -> None:
        for n in range(12):
            key = "".join(self.rng.choice("abcdefghijklmnopqrstuvwxyz_") for _ in range(
                self.rng.randint(3, 14)))
            self.add(f"unknown-top-{key}", render(self.race, raw={f"zz{key}": "1"}), REFUSED)
        for typo in ("duraton_s", "Title", "EXPECT", "fault", "mitigation", "enactor",
                     "seed ", "steady_state"):
            self.add(f"unknown-typo-{typo}", render(self.race, raw={_scalar(typo): "1"}),
                     REFUSED)
        for n, key in enumerate(("bogus", "at", "delay_s", "Kind", "targets", "step_name")):
            self.add(f"unknown-fault-key-{key}",
                     render(self.race, fault_raw=(n % 4, key, "1")), REFUSED)
        for label, key in {"int": "1", "null": "null", "bool": "true", "float": "1.5",
                           "empty": '""', "nan": ".nan"}.items():
            self.add(f"unknown-nonstring-key-{label}", render(self.race, raw={key: "x"}),
                     REFUSED)
        self.add("unknown-complex-key", render(self.race) + "? [a, b]\n: 1\n", REFUSED)
        self.add("unknown-complex-map-key", render(self.race) + "? {a: 1}\n: 1\n", REFUSED)
        self.add("unknown-merge-inline", render(self.race) + "<<: {seed: 3}\n", REFUSED)
        self.add("unknown-fault-not-mapping", render(self.race_with(
            faults=["delay", 1, None])), REFUSED)

    def fault_timeline(self) -> None:
        d = self.race["duration_s"]
        for at, expect in ((d, REFUSED), (d + 0.001, REFUSED), (d - 0.001, EITHER),
                           (1000, REFUSED), (86399, REFUSED), (86400, REFUSED)):
            faults = [dict(f) for f in self.race["faults"]]
            faults[0]["at_s"] = at
            self.add(f"timeline-first-at-{at}", render({**self.race, "faults": faults}), expect)
        for at, expect in ((d - 8, REFUSED), (d - 8.001, EITHER)):
            faults = [dict(f) for f in self.race["faults"]]
            faults[0]["at_s"] = at    # faults 2 and 3 start 8 s after fault 0
            self.add(f"timeline-chain-{at}", render({**self.race, "faults": faults}), expect)
        chain = [{"at_s": 5, "kind": "delay", "target": "enactor-a",
                  "step": "before-cleanup", "seconds": 1}]
        chain += [{"after": i, "at_s": 5, "kind": "delay", "target": "enactor-a",
                   "step": "before-cleanup", "seconds": 1} for i in range(7)]
        self.add("timeline-long-chain", render(self.race_with(faults=chain)), REFUSED)
        self.add("timeline-short-chain", render(self.race_with(faults=chain[:5])), ACCEPTED)
        for label, after in {"self": 1, "forward": 3, "negative": -1, "float": 0.5,
                             "text": '"0"', "bool": "true", "huge": "9" * 40}.items():
            self.add(f"timeline-after-{label}",
                     render(self.race, fault_raw=(1, "after", str(after))), REFUSED)
        cycle = [dict(f) for f in self.race["faults"]]
        cycle[0]["after"] = 1
        self.add("timeline-after-cycle", render({**self.race, "faults": cycle}), REFUSED)
        self.add("timeline-duration-zero", render(self.race_with(duration_s=0)), REFUSED)
        self.add("timeline-duration-short", render(self.race_with(duration_s=8)), REFUSED)

    def cross_fields(self) -> None:
        race = self.race
        for label, changes, expect in [
            ("steady-zero", {"steady_state_s": 0}, REFUSED),
            ("steady-below-interval", {"steady_state_s": 1, "client_interval_s": 2}, REFUSED),
            ("steady-equal-interval", {"steady_state_s": 2, "client_interval_s": 2}, ACCEPTED),
            ("interval-too-long", {"client_interval_s": 25, "steady_state_s": 30}, REFUSED),
            ("probers-9", {"prober_containers": 9}, REFUSED),
            ("probers-8", {"prober_containers": 8}, ACCEPTED),
            ("clients-below-probers", {"clients": 3, "prober_containers": 4}, REFUSED),
            ("clients-leave-prober-empty", {"clients": 5, "prober_containers": 4}, REFUSED),
            ("clients-fill-probers", {"clients": 8, "prober_containers": 4}, ACCEPTED),
            ("enactors-one", {"enactors": ["enactor-a"]}, REFUSED),
            ("enactors-four", {"enactors": ["enactor-a", "enactor-b", "enactor-c",
                                            "enactor-d"]}, REFUSED),
            ("enactors-dup", {"enactors": ["enactor-a", "enactor-a"]}, REFUSED),
            ("enactors-empty", {"enactors": []}, REFUSED),
            ("mitigations-unknown", {"mitigations": ["magic"]}, REFUSED),
            ("mitigations-dup", {"mitigations": ["interlock", "interlock"]}, REFUSED),
            ("mitigations-all", {"mitigations": ["freshness-cas", "cleanup-skips-active",
                                                 "interlock", "self-repair", "fencing",
                                                 "serve-stale"]}, ACCEPTED),
            ("expect-bad", {"expect": "pass"}, REFUSED),
            ("backend-bad", {"backend": "bind"}, REFUSED),
            ("ratio-over-one", {"max_failed_ratio": 1.5}, REFUSED),
            ("title-empty", {"title": ""}, REFUSED),
        ]:
            self.add(f"cross-{label}", render({**race, **changes}), expect)
        one = {"at_s": 1, "kind": "delay", "target": "enactor-a", "step": "before-cleanup",
               "seconds": 2}
        for label, fault, expect in [
            ("delay-zero", {**one, "seconds": 0}, REFUSED),
            ("delay-missing-seconds", {k: v for k, v in one.items() if k != "seconds"}, REFUSED),
            ("delay-negative", {**one, "seconds": -1}, REFUSED),
            ("delay-times-zero", {**one, "times": 0}, REFUSED),
            ("delay-count", {**one, "count": 3}, REFUSED),
            ("delay-endpoint-wrong-step", {**one, "endpoint": "dynamodb.us-east-1"}, REFUSED),
            ("delay-endpoint-right-step", {**one, "step": "before-endpoint",
                                           "endpoint": "dynamodb.us-east-1"}, ACCEPTED),
            ("delay-no-step", {k: v for k, v in one.items() if k != "step"}, REFUSED),
            ("pause-zero", {"at_s": 1, "kind": "pause", "target": "enactor-a"}, REFUSED),
            ("pause-times", {"at_s": 1, "kind": "pause", "target": "enactor-a", "seconds": 1,
                             "times": 2}, REFUSED),
            ("pause-authoritative", {"at_s": 1, "kind": "pause", "target": "authoritative",
                                     "seconds": 1}, ACCEPTED),
            ("kill-authoritative", {"at_s": 1, "kind": "kill", "target": "authoritative",
                                    "seconds": 1}, REFUSED),
            ("kill-zero", {"at_s": 1, "kind": "kill", "target": "planner"}, ACCEPTED),
            ("kill-step", {"at_s": 1, "kind": "kill", "target": "planner",
                           "step": "before-cleanup"}, REFUSED),
            ("pause-endpoint", {"at_s": 1, "kind": "pause", "target": "enactor-a", "seconds": 1,
                                "endpoint": "dynamodb.us-east-1"}, REFUSED),
            ("lose-lock-seconds", {"at_s": 1, "kind": "lose-lock", "target": "enactor-a",
                                   "seconds": 3}, REFUSED),
            ("lose-lock-planner", {"at_s": 1, "kind": "lose-lock", "target": "planner"},
             REFUSED),
            ("lose-lock-endpoint", {"at_s": 1, "kind": "lose-lock", "target": "enactor-b",
                                    "endpoint": "dynamodb.us-east-1", "times": 3}, ACCEPTED),
            ("burst-no-count", {"at_s": 1, "kind": "planner-burst"}, REFUSED),
            ("burst-enactor", {"at_s": 1, "kind": "planner-burst", "target": "enactor-a",
                               "count": 2}, REFUSED),
            ("burst-seconds", {"at_s": 1, "kind": "planner-burst", "count": 2, "seconds": 1},
             REFUSED),
            ("target-not-in-enactors", {**one, "target": "enactor-c"}, REFUSED),
            ("target-missing", {k: v for k, v in one.items() if k != "target"}, REFUSED),
            ("target-unknown", {**one, "target": "enactor-z"}, REFUSED),
        ]:
            doc = {**race, "enactors": ["enactor-a", "enactor-b"], "faults": [fault]}
            self.add(f"fault-{label}", render(doc), expect)


def cases(seed: int = 0) -> list[Case]:
    """Every hostile case, in a fixed order; ``seed`` picks the random parts."""
    c = _Cases(seed)
    for family in (c.deleted_keys, c.duplicated_keys, c.wrong_types, c.numbers, c.truncated,
                   c.deep_nesting, c.alias_bombs, c.control_chars, c.unicode_oddities,
                   c.encodings, c.tabs, c.long_strings, c.documents, c.tags, c.keys,
                   c.fault_timeline, c.cross_fields):
        family()
    return c.out
