"""A knowledge-heavy English corpus from reference works that Debian packages ship.

GLaM's argument is that sparse experts hold more knowledge at the same
compute. A corpus of many independent facts tests it better than prose that
repeats itself: this one is every entry of three reference works, one entry
a document, as JSON Lines for `--data files:DIR/*.jsonl`:

  gcide    the GNU Collaborative International Dictionary of English
           (Webster's 1913 with later additions: definitions, etymologies,
           quotations); Debian package dict-gcide
  wordnet  WordNet 3.0: every synset's words, part of speech, gloss and
           examples; Debian package wordnet-base
  foldoc   the Free On-line Dictionary of Computing; Debian package dict-foldoc

About 48M characters (about 20M tokens with a 2,048-piece tokenizer). Install the
packages and build it with `bash benchmarks/corpus/setup.sh DIR`. Nothing of
the corpus is committed; its text is read from the packages' files.

    python benchmarks/corpus/knowledge.py OUT_DIR [--sources gcide,wordnet,foldoc]
"""

import argparse
import gzip
import json
import os
import re
import sys

DICTD = "/usr/share/dictd"
WORDNET = "/usr/share/wordnet"

# Provenance tags on lines of their own ("[1913 Webster]", "[PJC]", "[WordNet 1.5]").
_TAG_LINE = re.compile(r"^\s*\[[^\]\n]{1,40}\]\s*$", re.M)
_BLANKS = re.compile(r"\n\s*\n+")
_SPACES = re.compile(r"[ \t]+")
_POS = {"n": "noun", "v": "verb", "a": "adjective", "s": "adjective", "r": "adverb"}


def _b64(text):
    """dictd's index numbers: base 64 with its own alphabet."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    value = 0
    for char in text:
        value = value * 64 + alphabet.index(char)
    return value


def _tidy(text):
    """One entry as paragraphs: tags dropped, wrapped lines joined, spaces folded."""
    text = _TAG_LINE.sub("", text)
    paragraphs = [_SPACES.sub(" ", " ".join(p.split())).strip() for p in _BLANKS.split(text)]
    return "\n".join(p for p in paragraphs if p)


def dictd_entries(name):
    """Every entry of a dictd database, in index order; its info entries left out."""
    with gzip.open(os.path.join(DICTD, f"{name}.dict.dz"), "rb") as f:
        data = f.read()
    seen = set()
    with open(os.path.join(DICTD, f"{name}.index"), encoding="utf-8") as index:
        for line in index:
            headword, offset, length = line.rstrip("\n").split("\t")[:3]
            span = (_b64(offset), _b64(length))
            if headword.startswith(("00-", "00database")) or span in seen:
                continue
            seen.add(span)  # several headwords can point at one entry
            text = _tidy(data[span[0]:span[0] + span[1]].decode("utf-8", "replace"))
            if len(text) >= 40:
                yield text


def wordnet_entries():
    """Every WordNet synset: 'word, word (noun): gloss; "example"'."""
    for pos in ("noun", "verb", "adj", "adv"):
        with open(os.path.join(WORDNET, f"data.{pos}"), encoding="utf-8") as f:
            for line in f:
                if line.startswith("  ") or "|" not in line:
                    continue  # the license header
                fields, gloss = line.split("|", 1)
                parts = fields.split()
                count = int(parts[3], 16)
                words = [parts[4 + 2 * i].replace("_", " ") for i in range(count)]
                words = [re.sub(r"\([a-z]+\)$", "", w) for w in words]  # adjective markers
                yield f"{', '.join(words)} ({_POS[parts[2]]}): {gloss.strip()}"


SOURCES = {
    "gcide": lambda: dictd_entries("gcide"),
    "wordnet": wordnet_entries,
    "foldoc": lambda: dictd_entries("foldoc"),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--sources", default=",".join(SOURCES))
    args = parser.parse_args()
    names = [n.strip() for n in args.sources.split(",") if n.strip()]
    unknown = [n for n in names if n not in SOURCES]
    if unknown or not names:
        sys.exit(f"knowledge.py: error: --sources {args.sources!r}: "
                 f"choose from {', '.join(SOURCES)}")
    os.makedirs(args.out_dir, exist_ok=True)
    for name in names:
        path = os.path.join(args.out_dir, f"{name}.jsonl")
        try:
            entries = list(SOURCES[name]())
        except FileNotFoundError as error:
            sys.exit(f"knowledge.py: error: {name}: {error.filename} is missing "
                     f"(run benchmarks/corpus/setup.sh, which installs its Debian package)")
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            for text in entries:
                f.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
        os.replace(path + ".tmp", path)
        chars = sum(len(t) for t in entries)
        print(f"{path}: {len(entries):,} documents, {chars / 1e6:.1f}M characters")


if __name__ == "__main__":
    main()
