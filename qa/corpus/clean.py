"""Strip site chrome from scraped article text, keeping the article's own words verbatim.

Scraped pages carry navigation, prompts, link lists, bylines, bios and captions. The
rules here are general (what chrome looks like on news sites), never a list of lines
from particular files. Kept paragraphs are the source's characters unchanged; only
markup (Markdown links, list bullets) and line breaks inside a paragraph are undone,
so a quote reads as the article does. Paragraphs are joined with a blank line.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

PARAGRAPH_SEPARATOR = "\n\n"

# A sentence ends in . ! ? or an ellipsis, possibly inside closing quotes or brackets.
_TERMINAL = re.compile(r"[.!?…][\"'”’»)\]]*$")
_SENTENCE_END = re.compile(r"[.!?…][\"'”’»)\]]*\s")
_WORD = re.compile(r"[^\W\d_]{1,}[\w'’.-]*")
_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]+)\]\((?:[^()\s]|\([^)]*\))*\)")
_MD_EMPHASIS = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_MD_HEADING = re.compile(r"^#{1,6}\s+")
_BULLET = re.compile(r"^(?:[-–—•*·▪►]|\d{1,2}[.)])\s+")
_BARE_URL = re.compile(r"^<?(?:https?://|www\.)\S+>?$")

# Prose that is still chrome: prompts to subscribe, comment, share or follow. A prompt
# speaks to the reader ("you", "our newsletter") or is an imperative; news about
# subscribers ("Netflix now has 230 million subscribers") or about signing up for
# something else ("sign up for the army") is not one.
_PROMPT = re.compile(
    r"\bsubscri(?:be|ption)\b.*\b(?:you|your|today|benefit|free)\b"
    r"|\b(?:you|your)\b.*\bsubscri(?:be|ber|ption)\b"
    r"|^(?:already a subscriber|subscribe)\b|\bsubscribe (?:now|today)\b"
    r"|\bcomment(?:ing)? (?:guidelines|policy|section)\b|\bview comments\b"
    r"|\bjoin the conversation\b|\bcommenting on this\b"
    r"|\bsign up (?:for|to) (?:our|my)\b|^sign up\b|\bsign up\b.*\bnewsletters?\b"
    r"|\bnewsletters?\b.*\b(?:inbox|sign up|subscribe)\b"
    r"|\bfollow (?:us|him|her|them) on\b|\bclick here\b|\bdownload (?:our|the) app\b"
    r"|\ball rights reserved\b|^©|\bcookies?\b.*\b(?:accept|consent|policy)\b"
    r"|\btwitter: @\w+|\bsupport (?:our|independent) (?:work|journalism)\b",
    re.IGNORECASE,
)
# Lines that close an article: credits, disclaimers. What follows them is chrome.
# A disclaimer speaks of the authors or of what it does not necessarily reflect.
_SIGN_OFF = re.compile(
    r"\bcontributed (?:reporting )?to this (?:report|story|article)\b"
    r"|\bviews expressed (?:in|here|by)\b.*"
    r"\b(?:those of the (?:authors?|writers?|contributors?)|do(?:es)? not necessarily)\b",
    re.IGNORECASE,
)
# A credit line names people, "(Reporting by Jane Doe; Editing by ...)": a capital
# follows "by", which "Reporting by the state broadcaster was censored" does not have.
_CREDIT_LINE = re.compile(
    r"^\(?(?:additional )?(?:reporting|editing|edited|written) by (\w)", re.IGNORECASE
)
# An author bio: "Jane Doe is a reporter at ...", a name opening a short paragraph.
_BIO = re.compile(
    r"^(?:[A-Z][\w'’.-]+ ){1,3}[A-Z][\w'’.-]+ (?:is|was|covers|writes|reports)\b[^.]{0,120}"
    r"\b(?:reporter|correspondent|editor|writer|columnist|journalist|fellow|contributor"
    r"|analyst|producer|author|professor|researcher)s?\b"
)
_BIO_MAX_WORDS = 40
# Headings that start the related-links or comments section at the foot of a page.
_FOOTER_HEADING = re.compile(
    r"^(?:more (?:from|on|in|stories|articles|coverage|news)\b|further reading|related\b"
    r"|read (?:more|next|this)\b|recommended\b|most (?:popular|read|viewed|shared)\b"
    r"|popular (?:in|on|now)\b|what'?s (?:hot|new|next)\b|trending\b|you (?:may|might) also"
    r"|join the conversation|comments?\b|go deeper|keep reading|about the authors?\b"
    r"|share (?:this|on)\b|follow us\b|original url\b|top stories|latest (?:news|stories)"
    r"|editor'?s picks|in case you missed|don'?t miss|sign up\b|newsletter\b)",
    re.IGNORECASE,
)
# A photo credit or caption marker. A label ("Photo:", "via Getty") always is one; an
# agency slug ("REUTERS/Stringer", "AP Photo") only when the paragraph does not end
# like a sentence, since prose names agencies too ("A Reuters/Ipsos poll found ...").
_CREDIT_LABEL = re.compile(
    r"(?:^|(?<=\.\s))(?:photo|photograph|image|picture|illustration|credit|caption)s?(?: by)?:"
    r"|^(?:photo|image|illustration) (?:by|courtesy)\b|\bvia getty\b",
    re.IGNORECASE,
)
_CREDIT_AGENCY = re.compile(
    r"\bgetty images\b|\b(?:afp|reuters|ap|epa|sipa)\s*/|/\s*(?:afp|reuters|ap)\b"
    r"|\bafp via\b|\bap photo\b|\bshutterstock\b|\bhandout\s*/|/\s*handout\b",
    re.IGNORECASE,
)
_CREDIT_MAX_WORDS = 60
# A footer heading followed by a headline after a colon is an inline link, not a footer:
# "Related: Russia-Ukraine war: what we know on day 15". The article goes on after it.
_INLINE_LINK = re.compile(r":\s*\S")
_FOOTER_MIN_POSITION = 0.5  # footers only count in the back half of a page
_CAPTION_MAX_WORDS = 40
_PROSE_MIN_WORDS = 4
_UNTERMINATED_PROSE_WORDS = 25  # a paragraph this long is prose even without a full stop


@dataclass(frozen=True, slots=True)
class Line:
    """One paragraph of the input and what the cleaner decided about it."""

    text: str
    block: int  # paragraphs in one block had no blank line between them
    reason: str | None = None  # why it was dropped; None when kept

    @property
    def kept(self) -> bool:
        return self.reason is None


def clean(
    raw: str, *, title: str | None = None, author: str | None = None, markdown: bool = False
) -> str:
    """Return the article's own paragraphs, separated by blank lines."""
    lines = review(raw, title=title, author=author, markdown=markdown)
    return PARAGRAPH_SEPARATOR.join(line.text for line in lines if line.kept)


def review(
    raw: str, *, title: str | None = None, author: str | None = None, markdown: bool = False
) -> list[Line]:
    """Decide, paragraph by paragraph, what is article and what is chrome (and why)."""
    lines = _paragraphs(raw, markdown=markdown)
    verdicts = [_line_reason(line.text, title, author) for line in lines]
    _drop_captions(lines, verdicts)
    _cut_footer(lines, verdicts)
    _drop_repeats(lines, verdicts)
    return [
        Line(line.text, line.block, reason) for line, reason in zip(lines, verdicts, strict=True)
    ]


def words(text: str) -> int:
    return len(_WORD.findall(text))


def is_prose(text: str) -> bool:
    """A paragraph of running text rather than a heading, label, byline or button."""
    n = words(text)
    if n < _PROSE_MIN_WORDS:
        return False
    if _TERMINAL.search(text) or n >= _UNTERMINATED_PROSE_WORDS:
        return True
    return text.endswith(":") and n >= 6


def fold(text: str) -> str:
    """A key under which case, quote marks, dashes and spacing do not matter."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(re.sub(r"[^\w]+", " ", text).split())


def _paragraphs(raw: str, *, markdown: bool) -> list[Line]:
    text = raw.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    text = _MD_IMAGE.sub("", text)
    text = _MD_LINK.sub(r"\1", text)
    out: list[Line] = []
    for block_no, block in enumerate(re.split(r"\n\s*\n", text)):
        pending = ""
        for raw_line in block.split("\n"):
            line = _unmark(raw_line.strip(), markdown=markdown)
            if not line:
                continue
            if pending and _continues(pending, line):
                pending = f"{pending} {line}"
                continue
            if pending:
                out.append(Line(pending, block_no))
            pending = line
        if pending:
            out.append(Line(pending, block_no))
    return out


def _unmark(line: str, *, markdown: bool) -> str:
    if markdown:
        line = _MD_HEADING.sub("", line)
        line = _MD_EMPHASIS.sub(r"\2", line)
        line = line.lstrip("> ").strip() if line.startswith(">") else line
    return _BULLET.sub("", line, count=1).strip()


def _continues(previous: str, line: str) -> bool:
    """A hard-wrapped line: the one before stops mid-sentence and this one goes on in lowercase."""
    return not _TERMINAL.search(previous) and not previous.endswith(":") and line[:1].islower()


def _line_reason(text: str, title: str | None, author: str | None) -> str | None:
    if title and fold(text) == fold(title):
        return "title"
    if _is_bio(text, author) or (_is_sign_off(text) and words(text) <= 60):
        return "sign-off"
    if _BARE_URL.match(text):
        return "url"
    if _credit(text) is not None:
        return "photo credit"
    if _FOOTER_HEADING.match(text) and not is_prose(text):
        return "link" if _INLINE_LINK.search(text) else "footer heading"
    if _PROMPT.search(text):
        return "prompt"
    if not is_prose(text):
        return "not prose"
    return None


def _is_sign_off(text: str) -> bool:
    credit = _CREDIT_LINE.match(text)
    return bool(_SIGN_OFF.search(text) or (credit and credit.group(1).isupper()))


def _is_bio(text: str, author: str | None) -> bool:
    if words(text) > _BIO_MAX_WORDS:
        return False
    if author and fold(text).startswith(fold(author) + " is "):
        return True
    return bool(_BIO.match(text))


def _credit(text: str) -> re.Match[str] | None:
    """Where the photo credit in ``text`` starts, if the paragraph is one."""
    if words(text) > _CREDIT_MAX_WORDS:
        return None
    label = _CREDIT_LABEL.search(text)
    if label is not None or _TERMINAL.search(text):
        return label
    return _CREDIT_AGENCY.search(text)


def _drop_captions(lines: list[Line], verdicts: list[str | None]) -> None:
    """A caption stands right above its photo credit, sometimes printed twice.

    Only the line right above the credit (and copies of it right above that) is the
    caption; the paragraphs before it are the article's. A credit that follows its
    caption on the same line ("Delegates meet. Photo: ...") has none above it.
    """
    for i, reason in enumerate(verdicts):
        if reason != "photo credit":
            continue
        credit = _credit(lines[i].text)
        if credit is not None and _SENTENCE_END.search(lines[i].text, 0, credit.start()):
            continue
        j = i - 1
        while (
            j >= 0
            and lines[j].block == lines[i].block
            and words(lines[j].text) <= _CAPTION_MAX_WORDS
            and (verdicts[j] is None or verdicts[j] == "not prose")
            and (j == i - 1 or fold(lines[j].text) == fold(lines[i - 1].text))
        ):
            verdicts[j] = "caption"
            j -= 1


def _cut_footer(lines: list[Line], verdicts: list[str | None]) -> None:
    """From a footer heading or sign-off in the back half of the page on, it is all chrome."""
    total = sum(len(line.text) for line in lines) or 1
    seen = 0
    for i, line in enumerate(lines):
        if verdicts[i] in ("footer heading", "sign-off") and seen / total >= _FOOTER_MIN_POSITION:
            for j in range(i + 1, len(lines)):
                verdicts[j] = verdicts[j] or "after footer"
            return
        seen += len(line.text)


def _drop_repeats(lines: list[Line], verdicts: list[str | None]) -> None:
    seen: set[str] = set()
    for i, line in enumerate(lines):
        if verdicts[i] is not None:
            continue
        key = fold(line.text)
        if key in seen:
            verdicts[i] = "repeat"
        seen.add(key)
