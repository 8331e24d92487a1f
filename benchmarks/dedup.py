"""Precision and recall of `DuplicateFinder` on labelled pairs built from the real listings in ../shared/data/listings.

As in the pipeline, one side is registered and `find` is called for the other side (with the MiniLM embedder).

Positives:
- perturbed: a registered record against a second version of itself showing one perturbation (`PERTURBATIONS`:
  title case/punctuation, LaTeX, a word inserted or removed, "Towards", a subtitle added/changed/dropped, where the
  new subtitle is another paper's real subtitle on the same topic; authors shuffled, one added or dropped, "Last,
  First"; abstract edited; or all at once), listed as a fresh arXiv id so that only content can link it;
- real: ICML 2019 listings vs their PMLR v97 BibTeX (LaTeX title, "Last, First" authors, full abstract); ICLR
  2017/2018 submissions vs their final BibTeX (camera-ready title and author spelling, no abstract, no shared id);
  PMLR v235 pages vs OpenReview ICML 2024 (by openreview id); three ICLR rejects resubmitted under a new title.
Negatives: the later of two different real papers with near titles (at least half of the shorter title's words, or
title embeddings at cosine >= 0.8), hardest first: same authors, some shared author, authors unknown, other authors.
Two listings are different papers when they are two submissions of one venue-year or two archival papers; the only
possible repeats, ICLR 2017/2018 rejects listed again later, were checked by hand (`REAL_RESUBMISSIONS`).

Prints a table per kind, a few failures and one final JSON line; "seconds" is the time to register and find everything
with the embedder (model loaded beforehand), "speed_11672_seconds" the time to add the 11,672 ICLR 2025 submissions
and find a retitled version of each without the embedder.

Usage: .venv/bin/python benchmarks/dedup.py [--listings DIR] [--seed N] [--examples N]
"""

import argparse
import csv
import json
import random
import re
import string
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from itertools import chain, zip_longest
from pathlib import Path

import numpy as np

from annapurna_assets.sources.dedup import (
    PLACEHOLDER_TITLES,
    DuplicateFinder,
    Match,
    author_overlap,
    normalise_title,
    title_words,
)
from annapurna_resources.llm.embeddings import MiniLMEmbedder
from annapurna_resources.sources.listed_paper import ListedPaper

DEFAULT_LISTINGS = Path(__file__).resolve().parents[2] / "shared" / "data" / "listings"
PER_PERTURBATION = 150
FORUM_PREFIX = "https://openreview.net/forum?id="


@dataclass
class Record:
    key: str
    dataset: str
    paper: ListedPaper


def _split_authors(text: str, separator: str) -> list[str]:
    return [name.strip() for name in text.split(separator) if name.strip()]


def load_iclr2025(listings: Path) -> list[Record]:
    """Title, authors (comma-separated), decision; no id and no abstract."""
    with open(listings / "iclr2025_openreview_all_submissions.csv", newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    return [
        Record(
            f"iclr2025/{row_number}",
            "iclr2025",
            ListedPaper(
                "openreview",
                f"iclr2025-row{row_number}",
                row["Title"],
                _split_authors(row["Authors"], ","),
                venue="iclr",
                year=2025,
                track=row["Decision"],
            ),
        )
        for row_number, row in enumerate(rows)
    ]


def load_neurips2023(listings: Path) -> list[Record]:
    """paper_id, title, link, keywords, abstract; no authors. Some rows have unquoted commas in title/abstract:
    the link column, found by its prefix, tells where the title ends."""
    records = []
    for csv_path in sorted((listings / "neurips2023").glob("*.csv")):
        with open(csv_path, newline="", encoding="utf-8") as file:
            rows = list(csv.reader(file))[1:]
        for fields in rows:
            link = next(i for i, field in enumerate(fields) if field.startswith(FORUM_PREFIX))
            paper_id, title, abstract = fields[0], ",".join(fields[1:link]), ",".join(fields[link + 2 :])
            paper = ListedPaper(
                "openreview", paper_id, title, abstract=abstract, venue="neurips", year=2023, track=csv_path.stem
            )
            records.append(Record(f"neurips2023/{paper_id}", "neurips2023", paper))
    return records


def load_icml2024(listings: Path) -> list[Record]:
    """OpenReview API v2 TSV, no header: forum_url, title, authors (;), keywords, primary_area, venue, pdf_url,
    supplementary_material, TLDR, spotlight, abstract."""
    records = []
    for line in (listings / "openreview_api_v2_tsv" / "ICML_cc_2024_Conference.tsv").read_text("utf-8").splitlines():
        fields = line.split("\t")
        forum_id = fields[0].removeprefix(FORUM_PREFIX)
        paper = ListedPaper(
            "openreview",
            forum_id,
            fields[1],
            _split_authors(fields[2], ";"),
            abstract=fields[10],
            venue="icml",
            year=2024,
            track=fields[5],
        )
        records.append(Record(f"icml2024/{forum_id}", "icml2024", paper))
    return records


def load_pmlr_v235(listings: Path) -> list[ListedPaper]:
    """PMLR Jekyll pages: YAML front matter with the LaTeX title, BibTeX authors ("Last, First") and openreview id."""
    import yaml

    papers = []
    for page in sorted((listings / "pmlr_v235_icml2024").glob("*.md")):
        front = yaml.safe_load(page.read_text("utf-8").split("---")[1])
        papers.append(
            ListedPaper(
                "pmlr",
                f"v235/{front['id']}",
                front["tex_title"],
                _split_authors(front["bibtex_author"], " and "),
                abstract=re.sub(r"</?em>", "", front["abstract"]),
                venue="icml",
                year=2024,
                ids={"openreview": front["openreview"]},
            )
        )
    return papers


def bibtex_field(bibtex: str, name: str) -> str:
    """The braced value of `name = {...}` in a BibTeX entry (nested braces kept), or ""."""
    found = re.search(rf"\b{name}\s*=\s*{{", bibtex)
    if not found:
        return ""
    depth, start = 1, found.end()
    for position in range(start, len(bibtex)):
        depth += {"{": 1, "}": -1}.get(bibtex[position], 0)
        if depth == 0:
            return " ".join(bibtex[start:position].split())
    return ""


def load_papercopilot(listings: Path, dump: str) -> list[tuple[Record, ListedPaper | None]]:
    """Paper Copilot dump: each listing record, with the paper as its BibTeX shows it (the final version: PMLR for
    ICML, camera-ready OpenReview for ICLR), or None when the BibTeX is missing, anonymous or of another paper."""
    venue, year = dump.split("__")[1][:-4], int(dump[-4:])
    pairs = []
    for entry in json.loads((listings / "papercopilot" / f"{dump}.json").read_text("utf-8")):
        if not entry.get("title"):
            continue
        source, paper_id = ("icml", entry["id"]) if venue == "icml" else ("openreview", entry["id"])
        paper = ListedPaper(
            source,
            paper_id,
            entry["title"],
            _split_authors(entry.get("author", ""), ";"),
            abstract=entry.get("abstract") or "",
            venue=venue,
            year=year,
            track=entry.get("status") or "",
        )
        record = Record(f"{venue}{year}/{paper_id}", f"{venue}{year}", paper)
        bibtex = entry.get("bibtex") or ""
        final = None
        bib_title, bib_authors = bibtex_field(bibtex, "title"), bibtex_field(bibtex, "author")
        same_forum = venue == "icml" or f"id={paper_id}" in bibtex_field(bibtex, "url")
        if bib_title and bib_authors and same_forum and "anonymous" not in bib_authors.casefold():
            pmlr_id = re.search(r"pmlr-(v\d+)-(\w+)", bibtex)
            final = ListedPaper(
                "pmlr" if pmlr_id else "bibtex",
                "/".join(pmlr_id.groups()) if pmlr_id else f"{venue}{year}/{paper_id}",
                bib_title,
                _split_authors(bib_authors, " and "),
                abstract=bibtex_field(bibtex, "abstract"),
                venue=venue,
                year=year,
            )
        pairs.append((record, final))
    return pairs


# Real versions of one paper whose later listing was retitled; found by mining same-author pairs across ICLR 2017,
# ICLR 2018 and ICML 2019 for near-identical abstracts, then checked by hand. (earlier key, later key)
REAL_RESUBMISSIONS = [
    ("iclr2017/Hy3_KuYxg", "iclr2018/B1jscMbAW"),  # Divide and Conquer with Neural Networks -> ... Networks
    ("iclr2017/r1tHvHKge", "iclr2018/B16yEqkCZ"),  # Combating Deep RL's Sisyphean Curse.. -> Avoiding Catastrophic..
    ("iclr2018/SkBHr1WRW", "icml2019/3807"),  # Ego-CNN -> Distributed, Egocentric Representations of Graphs
]
INSERTED_WORDS = ["Efficient", "Scalable", "Robust", "Provable", "Fast", "Simple", "Improved", "Deep", "Neural"]
INSERTED_WORDS += ["Adaptive", "Unified", "Generalized", "Practical", "Stochastic", "Online", "Principled"]
ABSTRACT_ADDITIONS = [
    "Code is available at https://github.com/anonymous/code.",
    "We release our code and models.",
    "Extensive experiments confirm our theoretical findings.",
]


@dataclass
class Query:
    """A listing to `find`: `expected` is the key of the registered version, None for a different paper."""

    paper: ListedPaper
    kind: str
    expected: str | None


def load_records(listings: Path) -> tuple[list[Record], dict[str, ListedPaper]]:
    """Every real listing record (placeholder titles such as "Withdrawn" dropped), and the final (BibTeX) version of
    each Paper Copilot record that has one, by the record's key."""
    records = load_iclr2025(listings) + load_neurips2023(listings) + load_icml2024(listings)
    finals = {}
    for dump in ["iclr__iclr2017", "iclr__iclr2018", "icml__icml2019"]:
        for record, final in load_papercopilot(listings, dump):
            records.append(record)
            if final:
                finals[record.key] = final
    return [record for record in records if normalise_title(record.paper.title) not in PLACEHOLDER_TITLES], finals


def change_case_and_punctuation(title: str, rng: random.Random) -> str:
    variants = [title.lower(), title.upper(), string.capwords(title), title.replace(": ", " - "), title + "."]
    variants.append(title.replace("-", " "))
    return rng.choice([variant for variant in variants if variant != title])


LATEX_ACCENTS = {"ä": '{\\"a}', "ö": '{\\"o}', "ü": '{\\"u}', "é": "{\\'e}", "è": "{\\`e}", "ç": "{\\c{c}}"}


def add_latex(title: str, rng: random.Random) -> str:
    """BibTeX-style: acronyms protected by braces, one word in \\emph{}, accents as LaTeX commands."""
    words = ["{" + word + "}" if sum(char.isupper() for char in word) >= 2 else word for word in title.split()]
    position = rng.randrange(len(words))
    words[position] = "\\emph{" + words[position] + "}"
    return "".join(LATEX_ACCENTS.get(char, char) for char in " ".join(words))


def insert_word(title: str, rng: random.Random) -> str:
    words = title.split()
    new_word = rng.choice([word for word in INSERTED_WORDS if word.casefold() not in title.casefold()])
    words.insert(rng.randrange(len(words) + 1), new_word)
    return " ".join(words)


def remove_word(title: str, rng: random.Random) -> str | None:
    words = title.split()
    content = [i for i, word in enumerate(words) if title_words(word)]
    if len(content) < 4:
        return None
    del words[rng.choice(content)]
    return " ".join(words)


def toggle_towards(title: str) -> str:
    first, _, rest = title.partition(" ")
    if first.casefold() in ("towards", "toward"):
        return rest[:1].upper() + rest[1:]
    return f"Towards {title}"


def topical_subtitle(text: str, subtitles: list[tuple[str, frozenset[str]]], rng: random.Random) -> str:
    """A real subtitle of another paper sharing the most words with `text`: a second version's new subtitle says
    something else about the same topic."""
    words = title_words(text)
    shared = [(len(words & its_words), subtitle) for subtitle, its_words in subtitles if subtitle not in text]
    most = max(count for count, _ in shared)
    return rng.choice([subtitle for count, subtitle in shared if count == most])


def add_subtitle(title: str, subtitles: list[tuple[str, frozenset[str]]], rng: random.Random) -> str | None:
    return None if ":" in title else f"{title}: {topical_subtitle(title, subtitles, rng)}"


def change_subtitle(title: str, subtitles: list[tuple[str, frozenset[str]]], rng: random.Random) -> str | None:
    main, colon, subtitle = title.partition(":")
    if not colon or len(title_words(main)) < 3:
        return None
    return f"{main}: {topical_subtitle(subtitle, subtitles, rng)}"


def drop_subtitle(title: str) -> str | None:
    """ "X: a long description" keeps X, unless X is only a name ("TD or not TD: Analyzing ..." keeps the rest)."""
    main, colon, subtitle = title.partition(":")
    if not colon:
        return None
    if len(title_words(main)) >= 2:
        return main.strip()
    return subtitle.strip() if len(title_words(subtitle)) >= 3 else None


def shuffle_authors(authors: list[str], rng: random.Random) -> list[str] | None:
    if len(set(authors)) < 2:
        return None
    shuffled = list(authors)
    while shuffled == authors:
        rng.shuffle(shuffled)
    return shuffled


def add_author(authors: list[str], names: list[str], rng: random.Random) -> list[str] | None:
    if not authors:
        return None
    added = list(authors)
    added.insert(rng.randrange(len(added) + 1), rng.choice(names))
    return added


def drop_author(authors: list[str], rng: random.Random) -> list[str] | None:
    if len(authors) < 2:
        return None
    dropped = list(authors)
    del dropped[rng.randrange(len(dropped))]
    return dropped


def last_first(authors: list[str]) -> list[str] | None:
    if not authors:
        return None
    return [f"{name.split()[-1]}, {' '.join(name.split()[:-1])}" if len(name.split()) > 1 else name for name in authors]


ABSTRACT_REWORDINGS = [("propose", "present"), ("novel", "new"), ("show", "demonstrate"), ("method", "approach")]


def edit_abstract(abstract: str, rng: random.Random) -> str | None:
    """A camera-ready edit: a sentence dropped, a few words reworded, a sentence appended."""
    sentences = re.split(r"(?<=[.!?])\s+", abstract.strip())
    if len(sentences) < 2:
        return None
    if len(sentences) >= 3:
        del sentences[rng.randrange(1, len(sentences))]
    edited = " ".join(sentences)
    for old, new in rng.sample(ABSTRACT_REWORDINGS, 2):
        edited = edited.replace(old, new)
    return f"{edited} {rng.choice(ABSTRACT_ADDITIONS)}"


def arxiv_version(paper: ListedPaper, rng: random.Random, **changes) -> ListedPaper:
    """`paper` as a new arXiv listing (its own fresh arXiv id, so only content can link it) with `changes`."""
    arxiv_id = f"{rng.randint(1801, 2412)}.{rng.randint(0, 99999):05d}"
    return ListedPaper(
        "arxiv",
        arxiv_id,
        changes.get("title", paper.title),
        changes.get("authors", list(paper.authors)),
        abstract=changes.get("abstract", paper.abstract),
        venue="arxiv",
        year=paper.year,
        arxiv_id=arxiv_id,
    )


def perturb(kind: str, paper: ListedPaper, subtitles: list, names: list[str], rng: random.Random) -> dict | None:
    """The changed fields of a second version of `paper` showing perturbation `kind`, or None where it cannot."""
    title, authors, abstract = paper.title, paper.authors, paper.abstract
    changes = {
        "case_punctuation": lambda: {"title": change_case_and_punctuation(title, rng)},
        "latex": lambda: {"title": add_latex(title, rng)},
        "word_inserted": lambda: {"title": insert_word(title, rng)},
        "word_removed": lambda: {"title": remove_word(title, rng)},
        "towards": lambda: {"title": toggle_towards(title)},
        "subtitle_added": lambda: {"title": add_subtitle(title, subtitles, rng)},
        "subtitle_changed": lambda: {"title": change_subtitle(title, subtitles, rng)},
        "subtitle_dropped": lambda: {"title": drop_subtitle(title)},
        "authors_shuffled": lambda: {"authors": shuffle_authors(authors, rng)},
        "author_added": lambda: {"authors": add_author(authors, names, rng)},
        "author_dropped": lambda: {"authors": drop_author(authors, rng)},
        "last_first_format": lambda: {"authors": last_first(authors)},
        "abstract_edited": lambda: {"abstract": edit_abstract(abstract, rng) if abstract else None},
    }
    if kind != "combined":
        changed = changes[kind]()
        return None if None in changed.values() else changed
    if len(authors) < 2 or not abstract:
        return None
    title_kind = rng.choice(["case_punctuation", "latex", "word_inserted", "word_removed", "towards"])
    changed_title = changes[title_kind]()["title"]
    author_edit = rng.choice([add_author(authors, names, rng), drop_author(authors, rng)])
    changed_authors = last_first(shuffle_authors(author_edit, rng) or author_edit)
    changed = {"title": changed_title, "authors": changed_authors, "abstract": edit_abstract(abstract, rng)}
    return None if None in changed.values() else changed


PERTURBATIONS = [
    "case_punctuation",
    "latex",
    "word_inserted",
    "word_removed",
    "towards",
    "subtitle_added",
    "subtitle_changed",
    "subtitle_dropped",
    "authors_shuffled",
    "author_added",
    "author_dropped",
    "last_first_format",
    "abstract_edited",
    "combined",
]


def near_title_pairs(records: list[Record], max_word_frequency: int = 300) -> list[tuple[int, int, float]]:
    """Pairs of records (i < j) sharing at least 2 title words and half of the shorter title's words; with the
    pair's title word Jaccard."""
    words = [title_words(record.paper.title) for record in records]
    keys_by_word = defaultdict(list)
    for i, title in enumerate(words):
        for word in title:
            keys_by_word[word].append(i)
    pairs = []
    for i, title in enumerate(words):
        rare = [word for word in title if len(keys_by_word[word]) <= max_word_frequency]
        for j in set(chain.from_iterable(keys_by_word[word] for word in rare)):
            shared = len(title & words[j])
            if j > i and shared >= 2 and shared >= 0.5 * min(len(title), len(words[j])):
                pairs.append((i, j, shared / len(title | words[j])))
    return pairs


def near_embedding_pairs(records: list[Record], embed, min_cosine: float) -> list[tuple[int, int, float]]:
    """Pairs of records with title embeddings at cosine >= `min_cosine` (records with abstracts only: the listings
    where an abstract, not the title alone, can tell two papers apart)."""
    indices = [i for i, record in enumerate(records) if record.paper.abstract]
    vectors = embed([records[i].paper.title for i in indices])
    pairs = []
    for start in range(0, len(indices), 1024):
        cosines = vectors[start : start + 1024] @ vectors.T
        for row, column in zip(*np.nonzero(cosines >= min_cosine)):
            i, j = indices[start + row], indices[column]
            if i < j:
                pairs.append((i, j, float(cosines[row, column])))
    return pairs


DATASET_ORDER = ["iclr2017", "iclr2018", "icml2019", "neurips2023", "icml2024", "iclr2025"]


def negative_kind(a: ListedPaper, b: ListedPaper) -> str:
    if not a.authors or not b.authors:
        return "near_title_authors_unknown"
    overlap = author_overlap(a.authors, b.authors)
    if overlap >= 0.5:
        return "near_title_same_authors"
    return "near_title_some_shared_author" if overlap > 0 else "near_title_other_authors"


NEGATIVE_QUOTAS = {
    "near_title_same_authors": 10_000,
    "near_title_some_shared_author": 10_000,
    "near_title_authors_unknown": 600,
    "near_title_other_authors": 600,
    "near_embedding": 300,
}


def choose_negatives(
    records: list[Record], token_pairs: list, embedding_pairs: list
) -> list[tuple[str, Record, Record]]:
    """(kind, registered, held-out query) for the hardest pairs first (same authors, then by similarity); a held-out
    record is in no other pair. The real resubmissions keep their roles: earlier registered, later held out."""
    resubmissions = {frozenset(pair) for pair in REAL_RESUBMISSIONS}
    candidates = [(negative_kind(records[i].paper, records[j].paper), score, i, j) for i, j, score in token_pairs]
    candidates += [("near_embedding", score, i, j) for i, j, score in embedding_pairs]
    order = list(NEGATIVE_QUOTAS)
    candidates.sort(key=lambda candidate: (order.index(candidate[0]), -candidate[1], candidate[2], candidate[3]))
    registered = {earlier for earlier, _ in REAL_RESUBMISSIONS}
    held_out = {later for _, later in REAL_RESUBMISSIONS}
    counts, chosen = Counter(), []
    for kind, _, i, j in candidates:
        a, b = records[i], records[j]
        if counts[kind] >= NEGATIVE_QUOTAS[kind] or frozenset((a.key, b.key)) in resubmissions:
            continue
        if {a.key, b.key} & held_out:
            continue
        # hold out the later listing where both are free, as the pipeline meets them
        a, b = sorted((a, b), key=lambda record: (DATASET_ORDER.index(record.dataset), record.key))
        if b.key in registered:
            a, b = b, a
        if b.key in registered:
            continue
        held_out.add(b.key)
        registered.add(a.key)
        counts[kind] += 1
        chosen.append((kind, a, b))
    return chosen


def build_queries(
    records: list[Record], finals: dict[str, ListedPaper], pmlr: list[ListedPaper], embed, rng: random.Random
) -> tuple[list[Record], list[Query]]:
    """The records to register and the labelled queries: negatives first (they decide which records are held out),
    then real cross-source versions and perturbed versions of registered records."""
    by_key = {record.key: record for record in records}
    token_pairs = near_title_pairs(records)
    embedding_pairs = near_embedding_pairs(records, embed, min_cosine=0.8)
    negatives = choose_negatives(records, token_pairs, embedding_pairs)
    held_out = {query.key for _, _, query in negatives} | {later for _, later in REAL_RESUBMISSIONS}
    queries = [Query(query.paper, kind, None) for kind, _, query in negatives]
    registered = [record for record in records if record.key not in held_out]

    queries += [Query(by_key[later].paper, "real_resubmission", earlier) for earlier, later in REAL_RESUBMISSIONS]
    icml2024_key = {record.paper.source_id: record.key for record in registered if record.dataset == "icml2024"}
    queries += [Query(paper, "real_pmlr_v235_openreview", icml2024_key[paper.ids["openreview"]]) for paper in pmlr]
    for key, final in finals.items():
        if key not in held_out:
            kind = "real_icml2019_pmlr_bibtex" if final.source == "pmlr" else "real_iclr_final_bibtex"
            queries.append(Query(final, kind, key))

    subtitles = sorted({record.paper.title.partition(":")[2].strip() for record in records} - {""})
    subtitles = [(subtitle, title_words(subtitle)) for subtitle in subtitles]
    names = sorted({name for record in records for name in record.paper.authors})
    by_dataset = defaultdict(list)
    for record in registered:
        by_dataset[record.dataset].append(record)
    for kind in PERTURBATIONS:
        # round-robin over the datasets so that each listing format is represented
        pools = [rng.sample(pool, len(pool)) for _, pool in sorted(by_dataset.items())]
        chosen = 0
        for record in filter(None, chain.from_iterable(zip_longest(*pools))):
            if chosen == PER_PERTURBATION:
                break
            changes = perturb(kind, record.paper, subtitles, names, rng)
            if changes:
                queries.append(Query(arxiv_version(record.paper, rng, **changes), kind, record.key))
                chosen += 1
    return registered, queries


def evaluate(finder: DuplicateFinder, registered: list[Record], queries: list[Query]) -> tuple[list, float]:
    """Registers one side and finds the other, as the pipeline does; the (query, match) pairs and the seconds."""
    started = time.perf_counter()
    for record in registered:
        finder.add(record.key, record.paper)
    results = [(query, finder.find(query.paper)) for query in queries]
    return results, time.perf_counter() - started


def outcome(query: Query, match: Match | None) -> str:
    if query.expected is None:
        return "false_merge" if match else "kept_apart"
    if match is None:
        return "missed"
    return "correct" if match.key == query.expected else "wrong_merge"


def summarise(results: list) -> dict:
    outcomes = Counter(outcome(query, match) for query, match in results)
    positives = sum(1 for query, _ in results if query.expected is not None)
    false_merges = outcomes["false_merge"] + outcomes["wrong_merge"]
    precision = outcomes["correct"] / max(1, outcomes["correct"] + false_merges)
    recall = outcomes["correct"] / max(1, positives)
    return {
        "positives": positives,
        "negatives": len(results) - positives,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(2 * precision * recall / max(1e-9, precision + recall), 4),
        "false_merges": false_merges,
    }


def print_table(results: list) -> dict[str, float]:
    """Per kind: counts of outcomes and the rules that fired; returns the recall of each positive kind."""
    by_kind = defaultdict(list)
    for query, match in results:
        by_kind[query.kind].append((query, match))
    print(f"{'kind':34} {'n':>5} {'correct':>8} {'missed':>7} {'wrong':>6} {'recall':>7}  rules that fired")
    recall_by_kind = {}
    for kind, kind_results in sorted(by_kind.items(), key=lambda item: (item[1][0][0].expected is None, item[0])):
        outcomes = Counter(outcome(query, match) for query, match in kind_results)
        reasons = Counter(match.reason for _, match in kind_results if match)
        reasons_text = " ".join(f"{reason}:{count}" for reason, count in reasons.most_common())
        if kind_results[0][0].expected is None:
            print(f"{kind:34} {len(kind_results):5} {'':8} {'':7} {outcomes['false_merge']:6} {'':7}  {reasons_text}")
            continue
        recall_by_kind[kind] = round(outcomes["correct"] / len(kind_results), 4)
        row = f"{kind:34} {len(kind_results):5} {outcomes['correct']:8} {outcomes['missed']:7}"
        print(f"{row} {outcomes['wrong_merge']:6} {recall_by_kind[kind]:7.3f}  {reasons_text}")
    return recall_by_kind


def print_examples(results: list, by_key: dict[str, Record], per_kind: int) -> None:
    failures = [(query, match) for query, match in results if outcome(query, match) not in ("correct", "kept_apart")]
    print(f"\n{len(failures)} failures; at most {per_kind} per kind:")
    shown = Counter()
    for query, match in failures:
        if shown[query.kind] == per_kind:
            continue
        shown[query.kind] += 1
        expected = by_key[query.expected].paper if query.expected else None
        matched = by_key[match.key].paper if match else None
        print(f"- {outcome(query, match)} [{query.kind}] query: {query.paper.title!r} {query.paper.authors[:3]}")
        if expected:
            print(f"    expected: {expected.title!r} {expected.authors[:3]}")
        if matched:
            print(f"    matched ({match.reason}, {match.score:.3f}): {matched.title!r} {matched.authors[:3]}")


def speed_check(records: list[Record], rng: random.Random) -> float:
    """Seconds to `add` the 11,672 ICLR 2025 submissions and `find` a retitled version of each, no embedding."""
    iclr2025 = [record for record in records if record.dataset == "iclr2025"]
    versions = [arxiv_version(record.paper, rng, title=insert_word(record.paper.title, rng)) for record in iclr2025]
    finder = DuplicateFinder()
    started = time.perf_counter()
    for record in iclr2025:
        finder.add(record.key, record.paper)
    for version in versions:
        finder.find(version)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--listings", type=Path, default=DEFAULT_LISTINGS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--examples", type=int, default=3, help="failures to list per kind")
    args = parser.parse_args()
    started = time.perf_counter()
    rng = random.Random(args.seed)
    embedder = MiniLMEmbedder()
    records, finals = load_records(args.listings)
    registered, queries = build_queries(records, finals, load_pmlr_v235(args.listings), embedder.embed, rng)
    by_key = {record.key: record for record in records}
    print(f"{len(records)} real records, {len(registered)} registered, {len(queries)} queries\n")

    results_without_embedding, _ = evaluate(DuplicateFinder(), registered, queries)
    finder = DuplicateFinder(embed=embedder.embed)
    results, seconds = evaluate(finder, registered, queries)
    recall_by_kind = print_table(results)
    print_examples(results, by_key, args.examples)
    speed_seconds = speed_check(records, rng)
    print(f"\nwithout embedding: {json.dumps(summarise(results_without_embedding))}")
    print(f"texts embedded by the finder: {finder.embedded_texts} for {len(queries)} queries")
    print(f"add 11,672 + find 11,672 retitled (ICLR 2025, no embedding): {speed_seconds:.2f} s")
    summary = summarise(results) | {"by_perturbation": recall_by_kind, "seconds": round(seconds, 2)}
    summary |= {"embedded_texts": finder.embedded_texts, "speed_11672_seconds": round(speed_seconds, 2)}
    summary["total_seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
