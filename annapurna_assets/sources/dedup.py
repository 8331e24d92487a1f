"""Cross-source deduplication: the arXiv, OpenReview and proceedings listings of one paper become one paper.

`DuplicateFinder` holds the registered papers and answers, for a newly listed paper, which registered paper it is
another version of. Rules, strongest first; thresholds tuned with `benchmarks/dedup.py` on real listings:

1. "id": both carry the same id of one source (`ids`, `source_id`, or the arXiv id without "v2").
2. "title": identical normalised titles, and author overlap >= `title_min_author_overlap` (0.3, low because the
   title already agrees; it only has to rule out a namesake paper by other people) or one side lists no authors.
3. "title+authors": near titles, word Jaccard >= `near_title_jaccard` (0.75: one word added or dropped from a
   4-word title), with author overlap >= `near_title_min_author_overlap` (0.5) and the same numbers in both titles.
4. "embedding+authors": farther titles (a subtitle added, changed or dropped) sharing >= `candidate_min_containment`
   of the shorter title's words, authors agreeing as in 3, confirmed by the cosine of the title+abstract embeddings
   >= `min_cosine_with_abstract` (0.88) or, when a side has no abstract, of the titles >= `min_cosine_title_only`.
5. "embedding": as 4 when a side lists no authors: both need abstracts, the shorter title must be mostly contained
   (`min_containment_without_authors`) and the cosine >= `min_cosine_without_authors` (0.9).

Titles whose numbers conflict ("Part 3.1" vs "Part 3.2", "Deep Voice 2" vs "Deep Voice 3") never merge by rules 3-5.
Author overlap is what keeps apart different papers with near titles ("Improved Denoising Diffusion Probabilistic
Models" and "Denoising Diffusion Probabilistic Models"); the embedding is what keeps apart a same-author follow-up
from a retitled version: in the benchmark, different papers by the same authors with near titles reached cosine
0.851 at most (the two PATE papers), while 247 of 255 retitled versions scored >= 0.88. Title-only embeddings
separate poorly (different papers reach 0.88, and few versions pass), hence the stricter `min_cosine_title_only`.

Near-title candidates come from an inverted index of title words, looked up through the query's rarer words only,
and the embedding is computed only for the few candidates that rules 1-3 leave ambiguous (at most
`max_embedded_candidates` per query; registered papers' vectors are cached).
"""

import functools
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import chain

import numpy as np

from annapurna_resources.sources.listed_paper import ListedPaper

STOPWORDS = frozenset(
    "a an and are as at be by can do does for from how in into is it its of on or our the their to toward towards "
    "via we what when where which why with".split()
)
ANONYMOUS_AUTHORS = frozenset({"anonymous", "anonymous authors", "anonymous author"})
PLACEHOLDER_TITLES = frozenset({"", "withdrawn", "withdraw", "untitled", "tba", "tbd"})
NAME_SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv"})

_LATEX_ACCENT = re.compile(r"\\[^a-zA-Z\s]")  # \" \' \` \^ \~ \= \.
_LATEX_LETTER = re.compile(r"\\(i|j|o|O|l|L|ss|aa|AA|ae|AE|oe|OE)(?![a-zA-Z])")  # dotless i, ø, ł, ß, å
_LATEX_ACCENT_COMMAND = re.compile(r"\\[a-zA-Z](?![a-zA-Z])")  # \c{c}, \v{s}: the letter in braces stays
_LATEX_COMMAND = re.compile(r"\\[a-zA-Z]+\*?")  # \emph, \textbf, \textasciicircum: the {argument} stays
_NAME_PARTICLE = re.compile(r"^[a-z]")  # "van der Maaten, Laurens", "de Freitas, Nando"
_UMLAUT_TRANSLITERATION = re.compile(r"(?<=[aou])e")  # "Rocktaeschel" meets "Rocktäschel"
_UNDECOMPOSED_LETTERS = str.maketrans(
    {"ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "ı": "i", "đ": "d", "ß": "ss", "æ": "ae"}
)
_NON_WORD = re.compile(r"[^\w]+|_")
_ARXIV_VERSION = re.compile(r"v\d+$")


@dataclass(frozen=True)
class Match:
    """`key` of the registered paper; `reason` is the rule that fired; `score` is that rule's evidence: 1.0 for an
    id, the author overlap for an identical title, the title Jaccard for a near title, the cosine for an embedding."""

    key: str
    reason: str
    score: float


def _plain(text: str) -> str:
    """Casefolded text without accents and LaTeX markup; punctuation left in place."""
    if "\\" in text:
        text = _LATEX_LETTER.sub(r"\1", _LATEX_ACCENT.sub("", text))
        text = _LATEX_COMMAND.sub(" ", _LATEX_ACCENT_COMMAND.sub("", text))
    text = text.replace("$", " ").replace("{", "").replace("}", "")
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text.translate(_UNDECOMPOSED_LETTERS))
        text = "".join(char for char in text if not unicodedata.combining(char))
    return text.casefold()


def normalise_title(title: str) -> str:
    """Casefold, strip accents and LaTeX ($, \\emph{}, braces), punctuation -> space, collapse whitespace."""
    return " ".join(_NON_WORD.sub(" ", _plain(title)).split())


def title_words(title: str) -> frozenset[str]:
    """The content words of a title, plurals folded ("networks" -> "network"), stopwords dropped."""
    return _content_words(normalise_title(title))


def _content_words(normalised_title: str) -> frozenset[str]:
    words = set()
    for word in normalised_title.split():
        if word in STOPWORDS:
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        words.add(word)
    return frozenset(words)


def _name_keys(name: str) -> frozenset[str]:
    """Keys under which two spellings of one author meet: "surname initial", and the order-free set of name words
    (so "Zhang Yan" meets "Yan Zhang"). `name` is plain text, "First Middle Last" or "Last, First"."""
    family, _, given = _UMLAUT_TRANSLITERATION.sub("", name).partition(",")
    family_words = [word for word in _NON_WORD.sub(" ", family).split() if word not in NAME_SUFFIXES]
    given_words = _NON_WORD.sub(" ", given).split()
    if not given_words and len(family_words) > 1:  # "First Middle Last"
        given_words, family_words = family_words[:-1], family_words[-1:]
    if not family_words:
        return frozenset()
    initial = given_words[0][0] if given_words else ""
    keys = {f"{family_words[-1]} {initial}"}
    if given_words:
        keys.add(" ".join(sorted(given_words + family_words)))
    return frozenset(keys)


def _split_names(entry: str) -> list[str]:
    """One author-list entry as plain names: listings sometimes join several ("A B and C D", "A B, C D"), while
    "Last, First" is one name (a comma list is told apart by two multi-word sides not starting with "van", "de"...)."""
    names = []
    for part in re.split(r";|\band\b", _plain(entry)):
        before, comma, after = part.partition(",")
        if comma and len(before.split()) > 1 and len(after.split()) > 1 and not _NAME_PARTICLE.match(entry.strip()):
            names.extend(part.split(","))
        else:
            names.append(part)
    return [name.strip() for name in names if name.strip() and name.strip() not in ANONYMOUS_AUTHORS]


def _author_names(authors: list[str]) -> list[frozenset[str]]:
    return [keys for entry in authors for keys in _entry_name_keys(entry)]


@functools.lru_cache(maxsize=1 << 16)  # prolific authors come back in paper after paper
def _entry_name_keys(entry: str) -> tuple[frozenset[str], ...]:
    return tuple(keys for name in _split_names(entry) if (keys := _name_keys(name)))


def _overlap(names_a: list[frozenset[str]], names_b: list[frozenset[str]]) -> float:
    if not names_a or not names_b:
        return 0.0
    shorter, longer = sorted((names_a, names_b), key=len)
    longer_keys = frozenset().union(*longer)
    return sum(1 for keys in shorter if keys & longer_keys) / len(shorter)


def author_overlap(a: list[str], b: list[str]) -> float:
    """Share of the shorter author list found in the other, in any order and either name format; 0.0 when one
    list is empty (or only "Anonymous")."""
    return _overlap(_author_names(a), _author_names(b))


def _paper_ids(paper: ListedPaper) -> set[tuple[str, str]]:
    ids = {(source, source_id.strip()) for source, source_id in paper.ids.items() if source_id and source_id.strip()}
    ids.add((paper.source, paper.source_id.strip()))
    if paper.arxiv_id:
        ids.add(("arxiv", paper.arxiv_id))
    return {
        (source, _ARXIV_VERSION.sub("", source_id.removeprefix("arXiv:")) if source == "arxiv" else source_id)
        for source, source_id in ids
        if source_id
    }


@dataclass(frozen=True)
class _Registered:
    key: str
    paper: ListedPaper
    ids: frozenset[tuple[str, str]]
    title: str
    words: frozenset[str]
    numbers: frozenset[str]  # title words with a digit: "Part 3.1" vs "Part 3.2" are two papers
    authors: list[frozenset[str]]

    @property
    def has_abstract(self) -> bool:
        return bool(self.paper.abstract.strip())

    @classmethod
    def of(cls, key: str, paper: ListedPaper) -> "_Registered":
        title = normalise_title(paper.title)
        words = _content_words(title)
        numbers = frozenset(word for word in words if any(char.isdigit() for char in word))
        return cls(key, paper, frozenset(_paper_ids(paper)), title, words, numbers, _author_names(paper.authors))


class DuplicateFinder:
    """Finds the already-registered paper a newly listed one is a version of."""

    def __init__(
        self,
        embed: Callable[[list[str]], np.ndarray] | None = None,
        *,
        title_min_author_overlap: float = 0.3,
        near_title_jaccard: float = 0.75,
        near_title_min_author_overlap: float = 0.5,
        candidate_min_containment: float = 0.5,
        min_containment_without_authors: float = 0.75,
        min_cosine_with_abstract: float = 0.88,
        min_cosine_title_only: float = 0.92,
        min_cosine_without_authors: float = 0.9,
        max_word_frequency: int = 50,
        max_embedded_candidates: int = 5,
    ) -> None:
        self.embed = embed
        self.title_min_author_overlap = title_min_author_overlap
        self.near_title_jaccard = near_title_jaccard
        self.near_title_min_author_overlap = near_title_min_author_overlap
        self.candidate_min_containment = candidate_min_containment
        self.min_containment_without_authors = min_containment_without_authors
        self.min_cosine_with_abstract = min_cosine_with_abstract
        self.min_cosine_title_only = min_cosine_title_only
        self.min_cosine_without_authors = min_cosine_without_authors
        self.max_word_frequency = max_word_frequency
        self.max_embedded_candidates = max_embedded_candidates
        self._papers: dict[str, _Registered] = {}
        self._key_by_id: dict[tuple[str, str], str] = {}
        self._keys_by_title: dict[str, set[str]] = defaultdict(set)
        self._keys_by_word: dict[str, set[str]] = defaultdict(set)
        self._embeddings: dict[tuple[str, bool], np.ndarray] = {}
        self.embedded_texts = 0  # how many texts went to `embed`, to check it stays a small fraction

    def __len__(self) -> int:
        return len(self._papers)

    def add(self, key: str, paper: ListedPaper) -> None:
        """Index a registered paper; adding a key again replaces it (e.g. after its `ids` grew in a merge)."""
        if key in self._papers:
            self._remove(key)
        registered = _Registered.of(key, paper)
        self._papers[key] = registered
        for paper_id in registered.ids:
            self._key_by_id.setdefault(paper_id, key)
        if registered.title in PLACEHOLDER_TITLES:
            return
        self._keys_by_title[registered.title].add(key)
        for word in registered.words:
            self._keys_by_word[word].add(key)

    def _remove(self, key: str) -> None:
        registered = self._papers.pop(key)
        for paper_id in registered.ids:
            if self._key_by_id.get(paper_id) == key:
                del self._key_by_id[paper_id]
        self._keys_by_title[registered.title].discard(key)
        for word in registered.words:
            self._keys_by_word[word].discard(key)
        self._embeddings = {cached: vector for cached, vector in self._embeddings.items() if cached[0] != key}

    def find(self, paper: ListedPaper) -> Match | None:
        """The registered paper `paper` is a version of, or None."""
        query = _Registered.of("", paper)
        for paper_id in query.ids:
            if paper_id in self._key_by_id:
                return Match(self._key_by_id[paper_id], "id", 1.0)
        if query.title in PLACEHOLDER_TITLES:
            return None
        return self._same_title(query) or self._near_title(query)

    def _same_title(self, query: _Registered) -> Match | None:
        best = None
        for key in self._keys_by_title.get(query.title, ()):
            candidate = self._papers[key]
            if not query.authors or not candidate.authors:
                overlap = 1.0
            else:
                overlap = _overlap(query.authors, candidate.authors)
            if overlap >= self.title_min_author_overlap and (best is None or overlap > best.score):
                best = Match(key, "title", overlap)
        return best

    def _frequency(self, word: str) -> int:
        return len(self._keys_by_word.get(word, ()))

    def _candidates(self, query: _Registered) -> Iterator[tuple[_Registered, int]]:
        """Registered papers sharing one of the query's rarer title words and at least `candidate_min_containment` of
        the shorter title's words; with the number of words shared. The rarer words are those in at most
        `max_word_frequency` registered titles, and whatever their frequency the two rarest, and the rarest of the main
        title and of the subtitle (so that a subtitle added to a title of common words still finds the title)."""
        known = sorted((frequency, word) for word in query.words if (frequency := self._frequency(word)))
        rare = {
            word for rank, (frequency, word) in enumerate(known) if frequency <= self.max_word_frequency or rank < 2
        }
        main, _, subtitle = query.paper.title.partition(":")
        for part in (main, subtitle):
            if part_known := [word for word in title_words(part) if self._frequency(word)]:
                rare.add(min(part_known, key=self._frequency))
        common = query.words.difference(rare)
        shared_rare = Counter(chain.from_iterable(self._keys_by_word[word] for word in rare))
        papers, query_length, min_containment = self._papers, len(query.words), self.candidate_min_containment
        for key, shared in shared_rare.items():
            words = papers[key].words
            needed = min_containment * min(query_length, len(words))
            if shared + len(common) < needed:  # cannot get there even if it has every common word
                continue
            if common:
                shared += len(common & words)
            if shared >= needed:
                yield papers[key], shared

    def _near_title(self, query: _Registered) -> Match | None:
        sure: list[Match] = []
        ambiguous: list[tuple[float, str, bool]] = []  # (containment, key, authors known on both sides)
        for candidate, shared in self._candidates(query):
            key = candidate.key
            containment = shared / min(len(query.words), len(candidate.words))
            if query.numbers - candidate.numbers and candidate.numbers - query.numbers:
                continue
            authors_known = bool(query.authors and candidate.authors)
            if authors_known and _overlap(query.authors, candidate.authors) < self.near_title_min_author_overlap:
                continue
            jaccard = shared / len(query.words | candidate.words)
            if authors_known and jaccard >= self.near_title_jaccard and query.numbers == candidate.numbers:
                sure.append(Match(key, "title+authors", jaccard))
            elif authors_known:
                ambiguous.append((containment, key, True))
            elif containment >= self.min_containment_without_authors and query.has_abstract and candidate.has_abstract:
                ambiguous.append((containment, key, False))
        if sure:
            return max(sure, key=lambda match: match.score)
        if not ambiguous or self.embed is None:
            return None
        ambiguous = sorted(ambiguous, reverse=True)[: self.max_embedded_candidates]
        return self._confirm_by_embedding(query, ambiguous)

    def _confirm_by_embedding(self, query: _Registered, ambiguous: list[tuple[float, str, bool]]) -> Match | None:
        """Embeds the query once per text kind (title+abstract, title only) and the uncached candidates, in one call."""
        pairs = []  # (candidate, authors known on both sides, both have an abstract)
        for _, key, with_authors in ambiguous:
            candidate = self._papers[key]
            pairs.append((candidate, with_authors, query.has_abstract and candidate.has_abstract))
        query_kinds = sorted({with_abstract for _, _, with_abstract in pairs})
        missing = sorted({(candidate.key, kind) for candidate, _, kind in pairs} - self._embeddings.keys())
        texts = [_embedding_text(query.paper, kind) for kind in query_kinds]
        texts += [_embedding_text(self._papers[key].paper, kind) for key, kind in missing]
        vectors = np.asarray(self.embed(texts), dtype=np.float32)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        self.embedded_texts += len(texts)
        query_vectors = dict(zip(query_kinds, vectors))
        self._embeddings.update(zip(missing, vectors[len(query_kinds) :]))
        best = None
        for candidate, with_authors, with_abstract in pairs:
            cosine = float(query_vectors[with_abstract] @ self._embeddings[(candidate.key, with_abstract)])
            if not with_authors:
                threshold = self.min_cosine_without_authors
            elif with_abstract:
                threshold = self.min_cosine_with_abstract
            else:
                threshold = self.min_cosine_title_only
            if cosine >= threshold and (best is None or cosine > best.score):
                best = Match(candidate.key, "embedding+authors" if with_authors else "embedding", cosine)
        return best


def _embedding_text(paper: ListedPaper, with_abstract: bool) -> str:
    return f"{paper.title}. {paper.abstract.strip()}" if with_abstract else paper.title
