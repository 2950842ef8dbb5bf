"""Small, strict parsers for the files the drivers render, written from each format's
manual, for the injection and property tests: they read back which statements a file
makes and what a PSK decodes to. A construct the format would not accept is a
SyntaxError, never skipped."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

Tree = dict[str, Any]


# -- Libreswan: ipsec.conf(5), ipsec.secrets(5) ------------------------------------------
def ipsec_conf(text: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """Sections (`config setup`, `conn NAME`) with their `key=value` lines, in order.
    A section line starts in column 0; its parameters are indented; '#' starts a comment."""
    sections: list[tuple[str, list[tuple[str, str]]]] = []
    for n, raw in enumerate(text.split("\n"), 1):
        line = re.sub(r"(^|\s)#.*", "", raw)
        if not line.strip():
            continue
        if not line[0].isspace():
            words = line.split()
            if words[0] not in ("config", "conn") or len(words) != 2:
                raise SyntaxError(f"ipsec.conf line {n}: not a section: {raw!r}")
            sections.append((" ".join(words), []))
            continue
        if not sections:
            raise SyntaxError(f"ipsec.conf line {n}: parameter outside a section: {raw!r}")
        key, eq, value = line.strip().partition("=")
        key, value = key.rstrip(), value.lstrip()
        plain = not any(c.isspace() for c in value) and '"' not in value
        if not eq or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", key) or not (
                plain or re.fullmatch(r'"[^"]*"', value)):
            raise SyntaxError(f"ipsec.conf line {n}: not key=value: {raw!r}")
        sections[-1][1].append((key, value))
    return sections


def _secrets_tokens(text: str) -> list[list[str]]:
    """Records: a record starts in column 0, continuation lines are indented; tokens are
    quoted strings or runs of non-blanks; '#' after a blank starts a comment."""
    records: list[list[str]] = []
    for raw in text.split("\n"):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        tokens = []
        for m in re.finditer(r'"[^"\n]*"|\'[^\'\n]*\'|#.*|\S+', raw):
            if m.group(0).startswith("#") and (m.start() == 0 or raw[m.start() - 1].isspace()):
                break
            if m.group(0)[0] in "\"'" and m.group(0)[-1] != m.group(0)[0]:
                raise SyntaxError(f"ipsec.secrets: unterminated string in {raw!r}")
            tokens.append(m.group(0))
        if raw[0].isspace():
            if not records:
                raise SyntaxError(f"ipsec.secrets: continuation without a record: {raw!r}")
            records[-1] += tokens
        else:
            records.append(tokens)
    return records


def ttodata(token: str) -> bytes | None:
    """A secrets data token as ttodata(3) reads it: 0x hex, 0s base64, 0t text."""
    try:
        if token[:2].lower() == "0x":
            return binascii.unhexlify(token[2:].replace("_", ""))
        if token[:2].lower() == "0s":
            return base64.b64decode(token[2:], validate=True)
    except (binascii.Error, ValueError):
        return None
    if token[:2].lower() == "0t":
        return token[2:].encode()
    return None


def ipsec_secrets(text: str) -> list[tuple[list[str], str, bytes | None]]:
    """(ids, kind, decoded secret) per record."""
    out = []
    for tokens in _secrets_tokens(text):
        if ":" not in tokens:
            raise SyntaxError(f"ipsec.secrets: record without ':' {tokens!r}")
        at = tokens.index(":")
        ids, rest = tokens[:at], tokens[at + 1:]
        if len(rest) != 2:
            raise SyntaxError(f"ipsec.secrets: expected KIND SECRET after ':', got {rest!r}")
        kind, secret = rest
        value = secret[1:-1].encode() if secret[0] in "\"'" else ttodata(secret)
        out.append((ids, kind, value))
    return out


# -- strongSwan: strongswan.conf(5) syntax, also swanctl.conf --------------------------------
def strongswan_conf(text: str) -> Tree:
    """Nested sections and `key = value` settings; values plain (to the end of the line or a
    '#') or double-quoted with backslash escapes."""
    pos, stack = 0, [{}]  # type: ignore[var-annotated]
    name_re = re.compile(r"[^\s{}=#\"]+")
    while True:
        m = re.compile(r"(?:\s+|#[^\n]*)*").match(text, pos)
        pos = m.end() if m else pos
        if pos >= len(text):
            break
        if text[pos] == "}":
            if len(stack) == 1:
                raise SyntaxError("strongswan.conf: '}' without a section")
            stack.pop()
            pos += 1
            continue
        m = name_re.match(text, pos)
        if not m:
            raise SyntaxError(f"strongswan.conf: unexpected {text[pos:pos + 20]!r}")
        name, pos = m.group(0), m.end()
        include = re.compile(r"[ \t]+(?=[^=])").match(text, pos) if name == "include" else None
        if include:  # the lexer's include state: its own escapes, ends at a blank, '#' or '}'
            pattern, pos = _include(text, include.end())
            stack[-1][f"include {pattern}"] = ""
            continue
        pos = re.compile(r"[ \t]*").match(text, pos).end()  # type: ignore[union-attr]
        if text[pos:pos + 1] == "{":
            if not isinstance(stack[-1].setdefault(name, {}), dict):
                raise SyntaxError(f"strongswan.conf: {name!r} is a setting and a section")
            stack.append(stack[-1][name])  # a section named twice is one (as strongSwan merges)
            pos += 1
        elif text[pos:pos + 1] == "=":
            pos = re.compile(r"[ \t]*").match(text, pos + 1).end()  # type: ignore[union-attr]
            value, pos = _value(text, pos)
            if name in stack[-1]:
                raise SyntaxError(f"strongswan.conf: {name!r} set twice")
            stack[-1][name] = value
        else:
            raise SyntaxError(f"strongswan.conf: {name!r} is neither a section nor a setting")
    if len(stack) != 1:
        raise SyntaxError("strongswan.conf: unclosed section")
    return stack[0]


def _include(text: str, pos: int) -> tuple[str, int]:
    """An include pattern as settings_lexer.l reads it: quoted, or up to a blank, '#', '}'
    or the line's end, with \\" \\# \\} and '\\ ' taken literally."""
    if text[pos:pos + 1] == '"':
        return _value(text, pos)
    out = []
    while pos < len(text) and text[pos] not in "#}\n\t ":
        if text[pos] == '"':
            raise SyntaxError("strongswan.conf: a quote inside an include pattern")
        step = 2 if text[pos] == "\\" and text[pos + 1:pos + 2] in ('"', "#", "}", " ") else 1
        out.append(text[pos + step - 1])
        pos += step
    return "".join(out), pos


def _value(text: str, pos: int) -> tuple[str, int]:
    if text[pos:pos + 1] == '"':
        out, pos = [], pos + 1
        escapes = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}
        while pos < len(text) and text[pos] != '"':
            if text[pos] == "\\" and pos + 1 < len(text):
                out.append(escapes.get(text[pos + 1], "\\" + text[pos + 1]))
                pos += 2
            else:
                out.append(text[pos])
                pos += 1
        if pos >= len(text):
            raise SyntaxError("strongswan.conf: unterminated string")
        rest = re.compile(r"[ \t]*(#[^\n]*)?(\n|$)").match(text, pos + 1)
        if not rest:
            raise SyntaxError("strongswan.conf: text after a quoted value")
        return "".join(out), rest.end()
    m = re.compile(r"[^\n#}]*").match(text, pos)  # a '}' closes the section on the same line
    value = m.group(0).rstrip() if m else ""
    if any(c in value for c in '{"'):
        raise SyntaxError(f"strongswan.conf: {value!r} would not be read as one plain value")
    return value, m.end() if m else pos


def swanctl_secret(value: str) -> bytes:
    """swanctl.conf secrets: 0x hex, 0s base64, else the string itself."""
    if value.startswith("0x"):
        return binascii.unhexlify(value[2:])
    if value.startswith("0s"):
        return base64.b64decode(value[2:])
    return value.encode()


def key_paths(tree: Tree, prefix: str = "") -> list[str]:
    out = []
    for key, value in tree.items():
        path = f"{prefix}{key}"
        out += key_paths(value, path + ".") if isinstance(value, dict) else [path]
    return out


# -- racoon: racoon.conf(5), psk.txt, setkey(8) -----------------------------------------------
def racoon_tokens(text: str) -> list[str]:
    """Tokens of racoon.conf / setkey -f input: quoted strings, braces, ';', words;
    '#' to the end of the line is a comment."""
    tokens, pos = [], 0
    pattern = re.compile(r'\s+|#[^\n]*|"[^"]*"|[{};]|[^\s{};"#]+')
    while pos < len(text):
        m = pattern.match(text, pos)
        if not m:
            raise SyntaxError(f"racoon: cannot read {text[pos:pos + 20]!r}")
        if not m.group(0).isspace() and not m.group(0).startswith("#"):
            tokens.append(m.group(0))
        pos = m.end()
    return tokens


def racoon_statements(text: str) -> list[tuple[int, tuple[str, ...]]]:
    """(depth, tokens) per statement ending in ';' or opening '{'."""
    out, depth, current = [], 0, []  # type: ignore[var-annotated]
    for tok in racoon_tokens(text):
        if tok in (";", "{"):
            out.append((depth, (*current, tok)))
            current = []
            depth += tok == "{"
        elif tok == "}":
            if current or depth == 0:
                raise SyntaxError("racoon: '}' in the middle of a statement")
            depth -= 1
        else:
            current.append(tok)
    if current or depth:
        raise SyntaxError("racoon: unterminated statement or block")
    return out


def racoon_psk(text: str) -> list[tuple[str, bytes]]:
    """psk.txt as racoon's getpsk() reads it: '#' lines skipped, the identifier up to the
    first blank, the key after the blanks to the end of the line; 0x keys are hex."""
    out = []
    for line in text.split("\n"):
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"(\S+)\s+(.+)", line)
        if not m:
            continue  # racoon skips a line without a key
        ident, key = m.groups()
        out.append((ident, binascii.unhexlify(key[2:]) if key.startswith("0x") else key.encode()))
    return out
