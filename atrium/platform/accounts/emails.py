"""The canonical form of an e-mail address: the one identity of an account.

Every place that stores, looks up or counts an e-mail uses ``canonical_email``: the user
manager (storage), the login lookup (``UserManager.get_by_natural_key``), the login
throttle key (``atrium.platform.accounts.throttling.email_digest``), user creation through the
API, the tenant admin and provisioning (through ``UserManager.normalize_email``). Two
spellings are the same account exactly when their canonical forms are equal; nothing
compares e-mails any other way (no ``iexact``: PostgreSQL's ``upper()`` maps the dotless
i and the long s to ASCII letters, which Python's ``lower()`` does not, and that
disagreement let a look-alike spelling log in past the lock of the real one).
"""

from __future__ import annotations

import unicodedata

# Dotted capital I and dotless small i: case variants of "i" in Turkic alphabets, which
# Unicode's default case folding keeps apart but PostgreSQL's upper() and Python's
# re.IGNORECASE (Django's EmailValidator) treat as "i". Folded to "i" so that they can
# neither open a second account nor a second throttle bucket beside the real spelling.
_TURKIC_I = str.maketrans({"\u0130": "i", "\u0131": "i"})
# Raw input longer than this is not an e-mail (254 at most once canonical); the bound
# keeps normalisation cheap whatever a client sends.
MAX_RAW_LENGTH = 1024


def _invisible(char: str) -> bool:
    """Format characters (zero-width space and joiners, soft hyphen, bidi marks), the
    combining grapheme joiner and variation selectors: they change no visible glyph, and
    Unicode's NFKC_Casefold drops them too."""
    code = ord(char)
    return (
        unicodedata.category(char) == "Cf"
        or code == 0x034F
        or 0xFE00 <= code <= 0xFE0F
        or 0xE0100 <= code <= 0xE01EF
    )


def canonical_email(email: str | None) -> str:
    """``email`` in its canonical form: NFKC (full-width letters and the full-width at
    sign, the long s U+017F and the Kelvin sign U+212A become ASCII; decomposed accents are
    composed), invisible characters removed, Unicode full case folding (sharp s → "ss")
    with the Turkic dotless i U+0131 and dotted I U+0130 as "i", NFKC again (folding can
    un-normalise), surrounding whitespace stripped.

    Idempotent: the canonical form of a canonical form is itself (a property test checks
    it). It does not validate: validate the result, never the raw input (U+FF20 becomes an
    at sign only here).
    """
    text = unicodedata.normalize("NFKC", (email or "")[:MAX_RAW_LENGTH])
    text = "".join(char for char in text if not _invisible(char))
    text = text.translate(_TURKIC_I).casefold()
    return unicodedata.normalize("NFKC", text).strip()
