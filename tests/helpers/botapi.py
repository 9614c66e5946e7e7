"""A local stand-in for the Telegram Bot API, for end-to-end tests of the bot.

Why: mocking ``telegram.Bot`` methods skips the parts that break in production --
parameter serialisation, HTTP, Telegram's validation of HTML and keyboards, the
``getUpdates`` long poll.  This module runs a tiny HTTP/1.1 server (pure asyncio,
keep-alive aware) on 127.0.0.1 that python-telegram-bot talks to through its real
``HTTPXRequest``::

    async with BotApiStandin() as standin:
        app = ApplicationBuilder().token(standin.token).base_url(standin.api_base_url).build()
        ...
        standin.push_message("hello")
        (reply,) = await standin.wait_for("sendMessage")

What it emulates (``POST|GET /bot<token>/<method>``, method names case-insensitive):

* bodies: ``application/x-www-form-urlencoded`` (what PTB sends: strings as-is,
  everything else JSON-encoded), ``application/json`` and query strings. Values
  are decoded like Telegram does (``chat_id`` -> int, ``reply_markup`` -> dict,
  ...), and recorded decoded.
* the methods the bot calls: getMe, getUpdates (long polling with ``offset``/
  ``limit``/``timeout``/``allowed_updates``), setWebhook, deleteWebhook,
  setMyCommands, setMyDescription, setMyShortDescription, sendMessage,
  editMessageText, answerCallbackQuery and
  answerInlineQuery. Anything else answers 404 ``Not Found: method not found``.
* answers ``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": N,
  "description": ...}`` with HTTP status N; wrong token -> 401 ``Unauthorized``.

What it rejects with 400, like Telegram (same wording where Telegram's is known):

* missing ``chat_id``/``text``, empty text (also empty after HTML parsing and
  whitespace trimming), text over 4096 UTF-16 code units after entity parsing;
* ``parse_mode=HTML`` that tdlib's parser rejects (this is a port of tdlib's
  ``parse_html``: unsupported tags, unclosed/unmatched tags, a bare ``<``, ...).
  Deliberately stricter than Telegram: a bare ``&`` that is not ``&lt;``,
  ``&gt;``, ``&amp;``, ``&quot;`` or a numeric reference is rejected too (Telegram
  keeps it literally, but it means the bot forgot to escape user text); pass
  ``strict_ampersand=False`` to get Telegram's exact behaviour.  Markdown and
  MarkdownV2 are accepted without validation; other parse modes are rejected;
* inline keyboards: ``callback_data`` not 1-64 bytes (``BUTTON_DATA_INVALID``),
  empty button text, buttons without an action, malformed URLs;
* editing unknown messages, non-bot messages, or with identical content
  (``message is not modified``); answering unknown callback/inline query ids;
* answerInlineQuery with more than 50 results, duplicate or over-long ids, or a
  ``message_text`` that sendMessage would reject; invalid bot commands.

Misbehaving like Telegram on a bad day (``standin.faults``, see ``helpers.faults``):
JSON 5xx and 429 answers, nginx HTML pages, connection resets and held answers, each
either applied (the call took effect, its answer was lost) or not. For assertions:
:meth:`BotApiStandin.delivered` (what reached the chats), :meth:`BotApiStandin.answers`
and :meth:`BotApiStandin.assert_answered_once` (each update's replies).

Not emulated: files/media sending, flood limits (inject them with
:meth:`BotApiStandin.rate_limit`), the 409 conflict between two concurrent
getUpdates pollers, MarkdownV2 parsing, webhook delivery (``helpers.faults``).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import inspect
import itertools
import json
import re
import socket
import struct
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlsplit

from helpers.faults import Fault, FaultPlan

__all__ = [
    "BotApiError",
    "BotApiStandin",
    "Call",
    "Exchange",
    "auto_entities",
    "parse_html",
    "utf16_len",
]

JSONDict = dict[str, Any]
Handler = Callable[[JSONDict], Any]

DEFAULT_TOKEN = "123456:TEST-token"
DEFAULT_USER_ID = 1001
DEFAULT_CHAT_IDS = {"group": -4001, "supergroup": -1001000000001, "channel": -1002000000001}
DEFAULT_TITLES = {"group": "Test Group", "supergroup": "Test Supergroup", "channel": "Test Channel"}


def _words(text: str) -> frozenset[str]:
    """A set written as space-separated words, to keep long vocabularies compact."""
    return frozenset(text.split())


MAX_MESSAGE_LENGTH = 4096
MAX_CALLBACK_DATA_BYTES = 64
MAX_INLINE_RESULTS = 50
MAX_INLINE_RESULT_ID_BYTES = 64
# Update types Telegram leaves out when allowed_updates was never set (or set to []).
_OPT_IN_UPDATES = _words("chat_member message_reaction message_reaction_count")
_BUTTON_ACTIONS = _words(
    "url callback_data web_app login_url switch_inline_query switch_inline_query_current_chat "
    "switch_inline_query_chosen_chat copy_text callback_game pay"
)
_MESSAGE_KINDS = ("message", "edited_message", "channel_post", "edited_channel_post")

# How form/query string values are typed: Telegram reads every value as a string and
# converts it by the parameter's declared type; PTB JSON-encodes non-string values.
_JSON_PARAMS = _words(
    "reply_markup allowed_updates results commands scope entities caption_entities "
    "link_preview_options reply_parameters button media options menu_button rights "
    "permissions reaction"
)
_INT_PARAMS = _words(
    "chat_id from_chat_id message_id message_thread_id reply_to_message_id user_id offset "
    "limit cache_time max_connections until_date duration"
)
_FLOAT_PARAMS = _words("timeout")
_BOOL_PARAMS = _words(
    "disable_notification protect_content allow_sending_without_reply "
    "allow_paid_broadcast disable_web_page_preview show_alert is_personal "
    "drop_pending_updates"
)


class BotApiError(Exception):
    """A Bot API error answer; raise it from a custom handler to reject a call."""

    def __init__(
        self, error_code: int, description: str, parameters: JSONDict | None = None
    ) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.parameters = parameters

    def payload(self) -> JSONDict:
        """The JSON body Telegram would send for this error."""
        body: JSONDict = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _bad_request(reason: str) -> BotApiError:
    return BotApiError(400, f"Bad Request: {reason}")


class Call(NamedTuple):
    """One recorded request, as ``(method, params)``; kept a tuple so it unpacks."""

    method: str
    params: JSONDict


@dataclass
class Exchange:
    """A request and the answer it got: the full record behind ``calls``/``errors``."""

    method: str
    params: JSONDict
    status: int | None = None  # None while pending, if the client went away, or reset
    response: JSONDict | None = None  # None for HTML pages too
    injected: bool = False  # the answer came from the fault plan (fail_next(), ...)
    abandoned: bool = False  # the client disconnected before the answer
    fault: Fault | None = None  # what the fault plan did to it
    effect: Any = None  # what the method did (its result), even if a fault lost the answer
    at: float = field(default_factory=time.monotonic)  # when the request arrived

    @property
    def applied(self) -> bool:
        """The call took effect (whether or not the client heard so)."""
        return self.effect is not None

    @property
    def ok(self) -> bool:
        return self.status == HTTPStatus.OK

    @property
    def result(self) -> Any:
        return (self.response or {}).get("result")

    @property
    def error_code(self) -> int | None:
        return (self.response or {}).get("error_code")

    @property
    def description(self) -> str | None:
        return (self.response or {}).get("description")

    def __str__(self) -> str:
        if self.fault is not None:
            return f"{self.method} -> injected {self.fault}"
        if self.status is None:
            return f"{self.method} -> {'abandoned' if self.abandoned else 'pending'}"
        if self.ok:
            return f"{self.method} -> ok"
        return f"{self.method} -> {self.status} {self.description}"


# ---------------------------------------------------------------------------
# Text helpers: UTF-16 lengths and a port of tdlib's HTML entity parser.
# ---------------------------------------------------------------------------


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units: the unit of Telegram's offsets and limits."""
    return len(text.encode("utf-16-le")) // 2


class _HtmlError(Exception):
    """tdlib's parse_html failure; the message follows "can't parse entities: "."""


_HTML_TAGS = _words(
    "a b strong i em s strike del u ins tg-spoiler tg-emoji span pre code blockquote"
)
_SIMPLE_TAG_TYPES = {"i": "italic", "em": "italic", "b": "bold", "strong": "bold"}
_SIMPLE_TAG_TYPES |= {"s": "strikethrough", "strike": "strikethrough", "del": "strikethrough"}
_SIMPLE_TAG_TYPES |= {
    "u": "underline",
    "ins": "underline",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}
_NAMED_ENTITIES = {b"lt": ord("<"), b"gt": ord(">"), b"amp": ord("&"), b"quot": ord('"')}
_SPACE = frozenset(b" \t\r\n\v\f\x00")  # tdlib's is_space() includes NUL, the end marker


def _decode_html_entity(data: bytes, pos: int) -> tuple[int, int]:
    """tdlib's decode_html_entity: (code point or 0, position after the entity)."""

    def at(i: int) -> int:
        return data[i] if i < len(data) else 0

    end = pos + 1
    code = 0
    if at(pos + 1) == ord("#"):
        end += 1
        if at(pos + 2) == ord("x"):
            end += 1
            while chr(at(end)) in "0123456789abcdefABCDEF" and at(end):
                code = code * 16 + int(chr(at(end)), 16)
                end += 1
        else:
            while ord("0") <= at(end) <= ord("9"):
                code = code * 10 + at(end) - ord("0")
                end += 1
        if code == 0 or code >= 0x10FFFF or end - pos >= 10:
            return 0, pos
    else:
        while chr(at(end)).isascii() and chr(at(end)).isalpha():
            end += 1
        code = _NAMED_ENTITIES.get(data[pos + 1 : end], 0)
        if not code:
            return 0, pos
    if at(end) == ord(";"):
        end += 1
    return code, end


def _checked_link(url: str) -> str | None:
    """A simplified LinkManager::get_checked_link: normalised URL, or None to drop it."""
    url = url.strip()
    if not url:
        return None
    if "://" not in url and not url.lower().startswith(("tg:", "ton:", "mailto:")):
        url = f"http://{url}"
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("tg", "ton", "mailto"):
        return url
    if scheme not in ("http", "https") or not parts.hostname or " " in url:
        return None
    return url


def parse_html(text: str, *, strict_ampersand: bool = True) -> tuple[str, list[JSONDict]]:
    """Parse Telegram-HTML like tdlib does; return (visible text, MessageEntity dicts).

    Raises ``ValueError`` with tdlib's message (byte offsets into the UTF-8 text).
    """
    try:
        return _parse_html(text, strict_ampersand)
    except _HtmlError as exc:
        raise ValueError(str(exc)) from None


def _parse_html(text: str, strict_ampersand: bool) -> tuple[str, list[JSONDict]]:
    data = text.encode("utf-8", "surrogatepass")
    size = len(data)

    def at(i: int) -> int:
        return data[i] if i < size else 0

    def is_space(c: int) -> bool:
        return c in _SPACE

    out = bytearray()
    utf16 = 0
    entities: list[JSONDict] = []
    # (tag name, argument, utf16 offset, byte position in out)
    nested: list[tuple[str, str, int, int]] = []

    def entity_url_or_mention(argument: str, begin: int, offset: int, length: int) -> None:
        url = argument or out[begin:].decode("utf-8", "surrogatepass")
        match = re.fullmatch(r"tg://user\?id=(\d+)", url.strip())
        if match:
            user = {"id": int(match.group(1)), "is_bot": False, "first_name": "User"}
            entities.append(
                {"type": "text_mention", "offset": offset, "length": length, "user": user}
            )
            return
        checked = _checked_link(url)
        if checked:
            entities.append(
                {"type": "text_link", "offset": offset, "length": length, "url": checked}
            )

    i = 0
    while i < size:
        c = data[i]
        if c == ord("&"):
            code, end = _decode_html_entity(data, i)
            if code:
                out += chr(code).encode("utf-8", "surrogatepass")
                utf16 += 2 if code > 0xFFFF else 1
                i = end
                continue
            if strict_ampersand:
                raise _HtmlError(
                    f'Character "&" must be escaped as "&amp;" at byte offset {i} '
                    "(stand-in strictness: Telegram would keep it, but it means "
                    "the text was not HTML-escaped)"
                )
        if c != ord("<"):
            if c & 0xC0 != 0x80:  # first byte of a UTF-8 sequence
                utf16 += 2 if c >= 0xF0 else 1
            out.append(c)
            i += 1
            continue

        begin_pos = i
        i += 1
        if at(i) != ord("/"):
            # A start tag.
            while not is_space(at(i)) and at(i) != ord(">"):
                i += 1
            if at(i) == 0:
                raise _HtmlError(f"Unclosed start tag at byte offset {begin_pos}")
            tag = data[begin_pos + 1 : i].decode("utf-8", "replace").lower()
            if tag not in _HTML_TAGS:
                raise _HtmlError(f'Unsupported start tag "{tag}" at byte offset {begin_pos}')
            argument = ""
            while at(i) != ord(">"):
                while at(i) != 0 and is_space(at(i)):
                    i += 1
                if at(i) == ord(">"):
                    break
                name_begin = i
                while not is_space(at(i)) and at(i) not in b"=>/\"'":
                    i += 1
                attr_name = data[name_begin:i].decode("utf-8", "replace")
                if not attr_name:
                    raise _HtmlError(
                        f'Empty attribute name in the tag "{tag}" at byte offset {begin_pos}'
                    )
                while at(i) != 0 and is_space(at(i)):
                    i += 1
                if at(i) != ord("="):
                    if at(i) == 0:
                        raise _HtmlError(f'Unclosed start tag "{tag}" at byte offset {begin_pos}')
                    if tag == "blockquote" and attr_name == "expandable":
                        argument = "1"
                    continue
                i += 1
                while at(i) != 0 and is_space(at(i)):
                    i += 1
                if at(i) == 0:
                    raise _HtmlError(f'Unclosed start tag "{tag}" at byte offset {begin_pos}')
                if at(i) not in (ord("'"), ord('"')):
                    # A name token: letters, digits, periods, hyphens; case-insensitive.
                    token_begin = i
                    while (
                        at(i) and chr(at(i)).isascii() and (chr(at(i)).isalnum() or at(i) in b".-")
                    ):
                        i += 1
                    value = data[token_begin:i].decode("ascii").lower()
                    if not is_space(at(i)) and at(i) != ord(">"):
                        raise _HtmlError(
                            f"Unexpected end of name token at byte offset {token_begin}"
                        )
                else:
                    quote = at(i)
                    i += 1
                    raw = bytearray()
                    while at(i) != quote and at(i) != 0:
                        if at(i) == ord("&"):
                            code, end = _decode_html_entity(data, i)
                            if code:
                                raw += chr(code).encode("utf-8", "surrogatepass")
                                i = end
                                continue
                            if strict_ampersand:
                                raise _HtmlError(
                                    f'Character "&" must be escaped as "&amp;" at byte offset {i} '
                                    "(stand-in strictness: Telegram would keep it, but it means "
                                    "the attribute was not HTML-escaped)"
                                )
                        raw.append(at(i))
                        i += 1
                    if at(i) == quote:
                        i += 1
                    value = raw.decode("utf-8", "replace")
                if at(i) == 0:
                    raise _HtmlError(f"Unclosed start tag at byte offset {begin_pos}")
                if tag == "a" and attr_name == "href":
                    argument = value
                elif tag == "code" and attr_name == "class" and value.startswith("language-"):
                    argument = value[len("language-") :]
                elif tag == "span" and attr_name == "class" and value.startswith("tg-"):
                    argument = value[len("tg-") :]
                elif tag == "tg-emoji" and attr_name == "emoji-id":
                    argument = value
                elif tag == "blockquote" and attr_name == "expandable":
                    argument = "1"
            if tag == "span" and argument != "spoiler":
                raise _HtmlError(
                    f'Tag "span" must have class "tg-spoiler" at byte offset {begin_pos}'
                )
            nested.append((tag, argument, utf16, len(out)))
            i += 1  # skip '>'
            continue

        # An end tag.
        if not nested:
            raise _HtmlError(f"Unexpected end tag at byte offset {begin_pos}")
        while not is_space(at(i)) and at(i) != ord(">"):
            i += 1
        end_tag = data[begin_pos + 2 : i].decode("utf-8", "replace").lower()
        while is_space(at(i)) and at(i) != 0:
            i += 1
        if at(i) != ord(">"):
            raise _HtmlError(f"Unclosed end tag at byte offset {begin_pos}")
        tag, argument, offset, out_begin = nested.pop()
        if end_tag and end_tag != tag:
            raise _HtmlError(
                f'Unmatched end tag at byte offset {begin_pos}, expected "</{tag}>", '
                f'found "</{end_tag}>"'
            )
        i += 1  # skip '>'
        length = utf16 - offset
        if length <= 0:
            continue
        if tag in _SIMPLE_TAG_TYPES:
            entities.append({"type": _SIMPLE_TAG_TYPES[tag], "offset": offset, "length": length})
        elif tag == "tg-emoji":
            if not argument.isdigit() or int(argument) == 0:
                raise _HtmlError("Invalid custom emoji identifier specified")
            entities.append(
                {
                    "type": "custom_emoji",
                    "offset": offset,
                    "length": length,
                    "custom_emoji_id": argument,
                }
            )
        elif tag == "a":
            entity_url_or_mention(argument, out_begin, offset, length)
        elif tag in ("pre", "code"):
            last = entities[-1] if entities else None
            same_span = last is not None and (last["offset"], last["length"]) == (offset, length)
            if tag == "pre" and same_span and last["type"] == "code" and last.get("language"):
                last["type"] = "pre"
            elif tag == "code" and same_span and last["type"] == "pre" and argument:
                last["language"] = argument
            else:
                entity = {"type": tag, "offset": offset, "length": length}
                if tag == "code" and argument:
                    entity["language"] = argument  # dropped below unless inside <pre>
                entities.append(entity)
        elif tag == "blockquote":
            kind = "expandable_blockquote" if argument else "blockquote"
            entities.append({"type": kind, "offset": offset, "length": length})
    if nested:
        raise _HtmlError(f'Can\'t find end tag corresponding to start tag "{nested[-1][0]}"')
    for entity in entities:
        if entity["type"] == "code":
            entity.pop("language", None)
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    try:
        visible = out.decode("utf-8")
    except UnicodeDecodeError:
        raise _HtmlError(
            "Text contains invalid Unicode characters after decoding HTML entities, "
            "check for unmatched surrogate code units"
        ) from None
    return visible, entities


def _strip_text(text: str, entities: list[JSONDict]) -> tuple[str, list[JSONDict]]:
    """Trim surrounding whitespace like Telegram does, keeping entities aligned."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    shift = utf16_len(text[: len(text) - len(text.lstrip())])
    limit = utf16_len(stripped)
    kept = []
    for entity in entities:
        start = max(entity["offset"] - shift, 0)
        end = min(entity["offset"] - shift + entity["length"], limit)
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    return stripped, kept


_MENTION_RE = re.compile(r"(?<!\w)@[A-Za-z0-9_]{2,32}(?![\w])")
_COMMAND_RE = re.compile(r"(?<![\w/<>])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/<>])")


def auto_entities(text: str) -> list[JSONDict]:
    """bot_command and mention entities the Telegram client would attach to ``text``."""
    found: list[JSONDict] = []
    for kind, pattern in (("bot_command", _COMMAND_RE), ("mention", _MENTION_RE)):
        for match in pattern.finditer(text):
            found.append(
                {
                    "type": kind,
                    "offset": utf16_len(text[: match.start()]),
                    "length": utf16_len(match.group()),
                }
            )
    found.sort(key=lambda e: e["offset"])
    return found


# ---------------------------------------------------------------------------
# Request decoding.
# ---------------------------------------------------------------------------


def _coerce_params(raw: JSONDict) -> JSONDict:
    """Type string values the way Telegram reads them (see ``_*_PARAMS``)."""
    params: JSONDict = {}
    for key, value in raw.items():
        if isinstance(value, str):
            if key in _JSON_PARAMS:
                try:
                    value = json.loads(value)
                except ValueError:
                    if key == "reply_markup":
                        raise _bad_request(
                            "can't parse reply keyboard markup JSON object"
                        ) from None
                    raise _bad_request(f"can't parse {key} JSON object") from None
            elif key in _INT_PARAMS and re.fullmatch(r"-?\d+", value.strip()):
                value = int(value)
            elif key in _FLOAT_PARAMS:
                try:
                    value = float(value)
                except ValueError:
                    raise _bad_request(f"wrong parameter {key} specified") from None
            elif key in _BOOL_PARAMS and value.lower() in ("true", "false", "1", "0"):
                value = value.lower() in ("true", "1")
        params[key] = value
    return params


def _parse_body(content_type: str, body: bytes) -> JSONDict:
    """Decode a request body into raw (string-valued, for forms) parameters."""
    mime = content_type.split(";", 1)[0].strip().lower()
    if not body:
        return {}
    if mime == "application/json":
        try:
            decoded = json.loads(body)
        except ValueError:
            raise _bad_request("can't parse JSON encoded request body") from None
        if not isinstance(decoded, dict):
            raise _bad_request("JSON request body must be an object")
        return decoded
    # Telegram treats anything else as a urlencoded form, which is what PTB sends.
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad_request("request body is not valid UTF-8") from None
    return dict(parse_qsl(text, keep_blank_values=True))


# ---------------------------------------------------------------------------
# The stand-in.
# ---------------------------------------------------------------------------


class BotApiStandin:
    """Emulates api.telegram.org for one bot token; see the module docstring."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        bot_username: str = "article_qa_bot",
        bot_first_name: str = "Article QA Bot",
        host: str = "127.0.0.1",
        strict_ampersand: bool = True,
    ) -> None:
        self.token = token
        self.host = host
        self.strict_ampersand = strict_ampersand
        bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 123456
        self.bot_user: JSONDict = {
            "id": bot_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": True,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self.exchanges: list[Exchange] = []
        self.updates: list[JSONDict] = []  # everything ever pushed
        self.chats: dict[int | str, JSONDict] = {}
        self.users: dict[int, JSONDict] = {}
        self.messages: dict[tuple[int | str, int], JSONDict] = {}  # current state
        self.commands: dict[tuple[str, str], list[JSONDict]] = {}
        self.descriptions: dict[tuple[str, str], str] = {}
        self.user_languages: dict[
            int, str
        ] = {}  # user id -> their app's language code  # (kind, language) -> text
        self.webhook: JSONDict | None = None
        self.callback_query_ids: set[str] = set()
        self.inline_query_ids: set[str] = set()
        self._pending: list[JSONDict] = []  # unconfirmed updates, in order
        self._delivered: set[int] = set()  # update_ids returned by some getUpdates
        self._allowed_updates: list[str] | None = None
        self._next_update_id = 10001
        self._next_message_ids: dict[int | str, int] = {}
        self._query_ids = itertools.count(4_382_000_000_000_001)
        self.faults = FaultPlan()
        self._changed = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self._port: int | None = None
        self.connection_count = 0  # TCP connections accepted: shows keep-alive reuse
        builtin: dict[str, Handler] = {
            "getMe": self._get_me,
            "deleteWebhook": self._delete_webhook,
            "setWebhook": self._set_webhook,
            "setMyCommands": self._set_my_commands,
            "setMyDescription": self._set_my_description,
            "setMyShortDescription": self._set_my_short_description,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "answerCallbackQuery": self._answer_callback_query,
            "answerInlineQuery": self._answer_inline_query,
        }
        self._handlers: dict[str, tuple[str, Handler]] = {
            name.lower(): (name, handler) for name, handler in builtin.items()
        }

    # -- lifecycle ----------------------------------------------------------

    async def start(self) -> BotApiStandin:
        """Listen on a free port of ``host``; returns self for chaining."""
        if self._server is not None:
            raise RuntimeError("BotApiStandin is already running")
        self._server = await asyncio.start_server(self._serve_connection, self.host, 0)
        self._port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Stop listening and drop open connections so no socket or task outlives a test."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        # Closing the sockets lets every connection task see EOF and end on its own
        # (a pending long poll notices within 50 ms); cancel only what still hangs.
        for writer in self._connections.values():
            writer.transport.abort()
        tasks = list(self._connections)
        if tasks:
            _, hanging = await asyncio.wait(tasks, timeout=1.0)
            for task in hanging:
                task.cancel()
            await asyncio.gather(*hanging, return_exceptions=True)
        await server.wait_closed()

    async def __aenter__(self) -> BotApiStandin:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("BotApiStandin is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``: the stand-in for ``https://api.telegram.org``."""
        return f"http://{self.host}:{self.port}"

    @property
    def api_base_url(self) -> str:
        """What PTB's ``base_url`` wants (``Bot(token, base_url=...)``)."""
        return f"{self.base_url}/bot"

    # -- configuring behaviour ----------------------------------------------

    def fail_next(
        self,
        method: str,
        *,
        times: int = 1,
        error_code: int = 400,
        description: str = "Bad Request: injected failure",
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail with the given error."""
        self.faults.script(method, Fault.error(error_code, description), times=times)

    def rate_limit(self, method: str, *, times: int = 1, retry_after: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` answer 429 Too Many Requests."""
        self.faults.script(method, Fault.flood(retry_after), times=times)

    # -- inspecting what the bot did ----------------------------------------

    @property
    def calls(self) -> list[Call]:
        """Every request so far, as ``(method, params)``, rejected ones included."""
        return [Call(e.method, e.params) for e in self.exchanges]

    def calls_to(self, method: str, chat_id: int | str) -> list[Exchange]:
        """Every request of ``method`` to ``chat_id`` so far, failed or held ones included."""
        wanted = self._canonical(method)
        return [
            e for e in self.exchanges if e.method == wanted and e.params.get("chat_id") == chat_id
        ]

    @property
    def errors(self) -> list[Exchange]:
        """Every answered request that was not ok (injected failures included)."""
        return [e for e in self.exchanges if e.status is not None and not e.ok]

    def sent(
        self, method: str, *, where: Callable[[JSONDict], bool] | None = None
    ) -> list[JSONDict]:
        """Params of the successful calls of ``method`` (optionally filtered)."""
        wanted = self._canonical(method)
        return [
            e.params
            for e in self.exchanges
            if e.ok and e.method == wanted and (where is None or where(e.params))
        ]

    def results(self, method: str) -> list[Any]:
        """What the successful calls of ``method`` returned (e.g. the sent Messages)."""
        wanted = self._canonical(method)
        return [e.result for e in self.exchanges if e.ok and e.method == wanted]

    def last(self, method: str) -> JSONDict:
        """Params of the latest successful call of ``method``."""
        found = self.sent(method)
        if not found:
            raise AssertionError(f"no successful {method} call; calls: {self._summary()}")
        return found[-1]

    def texts(self, chat_id: int | str | None = None) -> list[str]:
        """``text`` of every successful sendMessage (to ``chat_id`` if given)."""
        return [
            p["text"]
            for p in self.sent("sendMessage")
            if chat_id is None or p.get("chat_id") == chat_id
        ]

    def assert_no_errors(self, *, include_injected: bool = False) -> None:
        """Fail if Telegram would have rejected any call (injected ones aside)."""
        real = [e for e in self.errors if include_injected or not e.injected]
        if real:
            details = "\n  ".join(f"{e} params={e.params!r}" for e in real)
            raise AssertionError(f"{len(real)} rejected Bot API call(s):\n  {details}")

    async def wait_for(
        self,
        method: str,
        count: int = 1,
        timeout: float = 5.0,
        *,
        where: Callable[[JSONDict], bool] | None = None,
    ) -> list[JSONDict]:
        """Wait for ``count`` successful calls of ``method``; return all their params."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = self.sent(method, where=where)
            if len(found) >= count:
                return found
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {count} successful {method} "
                    f"call(s), got {len(found)}; calls: {self._summary()}"
                )
            await self.wait_changed(remaining)

    def reset(self) -> None:
        """Forget recorded calls and faults (state such as messages and updates stays)."""
        self.exchanges.clear()
        self.faults.clear()

    # -- accounting: what reached the chats ----------------------------------

    def delivered(self, chat_id: int | str | None = None) -> list[JSONDict]:
        """Messages sendMessage put in chats (in ``chat_id`` if given), in order.

        Includes those whose answer a fault lost: what the users saw, duplicates too.
        """
        return [
            e.effect
            for e in self.exchanges
            if e.method == "sendMessage"
            and e.applied
            and (chat_id is None or e.effect["chat"]["id"] == chat_id)
        ]

    def answers(self, updates: Iterable[JSONDict]) -> dict[int, list[JSONDict]]:
        """Each update's replies, by ``update_id``, from what took effect.

        A callback or inline query: its answerCallbackQuery / answerInlineQuery params.
        A message: the delivered messages quoting it, and its chat's unquoted ones in
        order (one each to the updates no quote answered, any surplus to the last one).
        Without quotes only the count per chat is certain: give each chat one question
        (or distinct answers) to pin down which update was answered twice.
        """
        found: dict[int, list[JSONDict]] = {}
        by_message: dict[tuple[Any, Any], int] = {}
        chats: dict[Any, list[int]] = {}
        queries: dict[tuple[str, Any], int] = {}
        for update in sorted(updates, key=lambda u: u["update_id"]):
            uid = update["update_id"]
            found[uid] = []
            if "callback_query" in update:
                queries["answerCallbackQuery", update["callback_query"]["id"]] = uid
            elif "inline_query" in update:
                queries["answerInlineQuery", update["inline_query"]["id"]] = uid
            elif "message" in update:
                chat = update["message"]["chat"]["id"]
                by_message[chat, update["message"]["message_id"]] = uid
                chats.setdefault(chat, []).append(uid)
        unquoted: dict[Any, list[JSONDict]] = {}
        for e in self.exchanges:
            if not e.applied:
                continue
            if e.method in ("answerCallbackQuery", "answerInlineQuery"):
                key = e.params.get("callback_query_id", e.params.get("inline_query_id"))
                if (e.method, key) in queries:
                    found[queries[e.method, key]].append(e.params)
            elif e.method == "sendMessage":
                chat = e.effect["chat"]["id"]
                quoted = (e.effect.get("reply_to_message") or {}).get("message_id")
                if quoted is None:
                    unquoted.setdefault(chat, []).append(e.effect)
                elif (chat, quoted) in by_message:
                    found[by_message[chat, quoted]].append(e.effect)
        for chat, messages in unquoted.items():
            waiting = [uid for uid in chats.get(chat, []) if not found[uid]]
            for i, message in enumerate(messages if waiting else []):
                found[waiting[min(i, len(waiting) - 1)]].append(message)
        return found

    def assert_answered_once(self, updates: Iterable[JSONDict]) -> dict[int, list[JSONDict]]:
        """Fail unless every update got exactly one reply (see :meth:`answers`); return them."""
        found = self.answers(updates)
        lost = [uid for uid, replies in found.items() if not replies]
        twice = [uid for uid, replies in found.items() if len(replies) > 1]
        if lost or twice:
            raise AssertionError(
                f"{len(found)} updates: {len(lost)} unanswered {lost[:10]}, "
                f"{len(twice)} answered more than once {twice[:10]}; "
                f"faults injected: {dict(self.faults.counts())}"
            )
        return found

    def _summary(self) -> str:
        if not self.exchanges:
            return "none"
        polls = sum(1 for e in self.exchanges if e.method == "getUpdates" and e.ok)
        shown = [str(e) for e in self.exchanges if not (e.method == "getUpdates" and e.ok)]
        if polls:
            shown.append(f"{polls}x getUpdates -> ok")
        return "[" + "; ".join(shown) + "]"

    def _changed_now(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    async def wait_changed(self, timeout: float) -> None:
        """Return at the next call, answer or push, or after ``timeout`` s."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._changed.wait()

    # -- queueing updates ---------------------------------------------------

    @property
    def pending(self) -> list[JSONDict]:
        """Updates queued and not confirmed yet, in order."""
        return list(self._pending)

    def confirm(self, update_id: int) -> None:
        """Drop an update from the queue, as a webhook's 2xx answer does."""
        self._pending = [u for u in self._pending if u["update_id"] != update_id]
        self._changed_now()

    def push_update(self, update: JSONDict) -> JSONDict:
        """Queue a raw update (``update_id`` is assigned when missing) and return it."""
        update = dict(update)
        if "update_id" not in update:
            update["update_id"] = self._next_update_id
        self._next_update_id = max(self._next_update_id, update["update_id"]) + 1
        self._index_update(update)
        self.updates.append(update)
        self._pending.append(update)
        self._changed_now()
        return update

    def push_message(
        self,
        text: str | None = None,
        *,
        chat_type: str = "private",
        chat_id: int | None = None,
        chat_title: str | None = None,
        user_id: int = DEFAULT_USER_ID,
        first_name: str = "Alice",
        username: str | None = "alice",
        reply_to_bot: bool = False,
        reply_to_message_id: int | None = None,
        entities: list[JSONDict] | None = None,
        **fields: Any,
    ) -> JSONDict:
        """Queue a user's message; commands and @mentions get entities automatically.

        ``fields`` are merged into the Message (``caption=...``, ``photo=[...]``).
        ``reply_to_bot`` makes it a reply to the bot's latest message in that chat.
        """
        chat = self._chat(chat_type, chat_id, chat_title, user_id, first_name, username)
        user = self._user(user_id, first_name, username)
        reply_to = self._reply_target(chat, reply_to_bot, reply_to_message_id)
        if reply_to is not None:
            fields.setdefault("reply_to_message", reply_to)
        message = self._new_message(chat, sender=user, text=text, entities=entities, **fields)
        return self.push_update({"message": message})

    def push_edited_message(
        self,
        text: str,
        *,
        message_id: int | None = None,
        chat_type: str = "private",
        chat_id: int | None = None,
        user_id: int = DEFAULT_USER_ID,
        first_name: str = "Alice",
        username: str | None = "alice",
        entities: list[JSONDict] | None = None,
    ) -> JSONDict:
        """Queue an edit of the user's message (default: their latest in that chat)."""
        chat = self._chat(chat_type, chat_id, None, user_id, first_name, username)
        user = self._user(user_id, first_name, username)
        original = self._find_message(chat["id"], message_id, from_id=user_id)
        if original is None:
            original = self._new_message(chat, sender=user, text=text, message_id=message_id)
        edited = {**original, "text": text, "edit_date": int(time.time())}
        edited.pop("entities", None)
        found = auto_entities(text) if entities is None else entities
        if found:
            edited["entities"] = found
        return self.push_update({"edited_message": edited})

    def push_channel_post(
        self,
        text: str,
        *,
        chat_id: int | None = None,
        chat_title: str | None = None,
        entities: list[JSONDict] | None = None,
        **fields: Any,
    ) -> JSONDict:
        """Queue a post in a channel the bot administers."""
        chat = self._chat("channel", chat_id, chat_title, DEFAULT_USER_ID, "", None)
        post = self._new_message(chat, sender=None, text=text, entities=entities, **fields)
        return self.push_update({"channel_post": post})

    def push_callback_query(
        self,
        data: str,
        *,
        message_id: int | None = None,
        chat_type: str = "private",
        chat_id: int | None = None,
        user_id: int = DEFAULT_USER_ID,
        first_name: str = "Alice",
        username: str | None = "alice",
        inline_message_id: str | None = None,
    ) -> JSONDict:
        """Queue a button press on a bot message (default: the bot's latest in the chat)."""
        user = self._user(user_id, first_name, username)
        query_id = str(next(self._query_ids))
        self.callback_query_ids.add(query_id)
        query: JSONDict = {"id": query_id, "from": user, "data": data}
        if inline_message_id is not None:
            query["inline_message_id"] = inline_message_id
            query["chat_instance"] = f"-{user_id}000"
        else:
            chat = self._chat(chat_type, chat_id, None, user_id, first_name, username)
            message = self._find_message(chat["id"], message_id, from_id=self.bot_user["id"])
            if message is None:
                message = self._new_message(
                    chat, sender=self._bot_sender(chat), text="(bot message)", message_id=message_id
                )
            query["message"] = message
            query["chat_instance"] = str(abs(hash(chat["id"])) % 10**18)
        return self.push_update({"callback_query": query})

    def push_inline_query(
        self,
        query: str,
        *,
        user_id: int = DEFAULT_USER_ID,
        first_name: str = "Alice",
        username: str | None = "alice",
        offset: str = "",
        chat_type: str | None = "sender",
    ) -> JSONDict:
        """Queue an inline query (``@bot query`` typed in any chat)."""
        query_id = str(next(self._query_ids))
        self.inline_query_ids.add(query_id)
        inline: JSONDict = {
            "id": query_id,
            "from": self._user(user_id, first_name, username),
            "query": query,
            "offset": offset,
        }
        if chat_type is not None:
            inline["chat_type"] = chat_type
        return self.push_update({"inline_query": inline})

    def push_sticker(self, emoji: str = "👍", **kwargs: Any) -> JSONDict:
        """Queue a sticker message (kwargs as for :meth:`push_message`)."""
        sticker = {
            **self._file("sticker"),
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
        }
        return self.push_message(sticker=sticker, **kwargs)

    def push_photo(self, caption: str | None = None, **kwargs: Any) -> JSONDict:
        """Queue a photo message, optionally captioned."""
        sizes = [
            {**self._file("photo"), "width": w, "height": w, "file_size": w * 40} for w in (90, 800)
        ]
        if caption is not None:
            kwargs["caption"] = caption
        return self.push_message(photo=sizes, **kwargs)

    def push_voice(self, duration: int = 3, **kwargs: Any) -> JSONDict:
        """Queue a voice note."""
        voice = {
            **self._file("voice"),
            "duration": duration,
            "mime_type": "audio/ogg",
            "file_size": 4000,
        }
        return self.push_message(voice=voice, **kwargs)

    # -- building objects ---------------------------------------------------

    def _file(self, kind: str) -> JSONDict:
        n = next(self._query_ids)
        return {"file_id": f"{kind}-file-{n}", "file_unique_id": f"{kind}-uniq-{n}"}

    def _user(self, user_id: int, first_name: str, username: str | None) -> JSONDict:
        user: JSONDict = {"id": user_id, "is_bot": False, "first_name": first_name or "User"}
        if username:
            user["username"] = username
        user["language_code"] = self.user_languages.get(user_id, "en")
        self.users[user_id] = user
        return user

    def _chat(
        self,
        chat_type: str,
        chat_id: int | None,
        title: str | None,
        user_id: int,
        first_name: str,
        username: str | None,
    ) -> JSONDict:
        if chat_type == "private":
            chat: JSONDict = {"id": user_id if chat_id is None else chat_id, "type": "private"}
            chat["first_name"] = first_name or "User"
            if username:
                chat["username"] = username
        elif chat_type in DEFAULT_CHAT_IDS:
            cid = DEFAULT_CHAT_IDS[chat_type] if chat_id is None else chat_id
            known = self.chats.get(cid, {})
            chat = {"id": cid, "type": chat_type}
            chat["title"] = title or known.get("title") or DEFAULT_TITLES[chat_type]
        else:
            raise ValueError(f"unknown chat_type {chat_type!r}")
        self.chats[chat["id"]] = chat
        return chat

    def _chat_for_send(self, chat_id: Any) -> JSONDict:
        """Resolve ``chat_id`` of an outgoing call, as Telegram would."""
        if chat_id is None or chat_id == "":
            raise _bad_request("chat_id is empty")
        if chat_id in self.chats:
            return self.chats[chat_id]
        defaults = {cid: kind for kind, cid in DEFAULT_CHAT_IDS.items()}
        if chat_id in defaults:
            kind = defaults[chat_id]
            chat = {"id": chat_id, "type": kind, "title": DEFAULT_TITLES[kind]}
        elif isinstance(chat_id, str):
            if not chat_id.startswith("@"):
                raise _bad_request("chat not found")
            chat = {"id": chat_id, "type": "channel", "title": chat_id[1:], "username": chat_id[1:]}
        elif chat_id > 0:
            chat = {"id": chat_id, "type": "private", "first_name": f"User {chat_id}"}
        elif chat_id <= -1_000_000_000_000:
            chat = {"id": chat_id, "type": "supergroup", "title": f"Chat {chat_id}"}
        else:
            chat = {"id": chat_id, "type": "group", "title": f"Chat {chat_id}"}
        self.chats[chat_id] = chat
        return chat

    def _bot_sender(self, chat: JSONDict) -> JSONDict | None:
        return None if chat["type"] == "channel" else self._bot_from()

    def _bot_from(self) -> JSONDict:
        keys = ("id", "is_bot", "first_name", "username")
        return {k: self.bot_user[k] for k in keys}

    def _new_message(
        self,
        chat: JSONDict,
        *,
        sender: JSONDict | None,
        text: str | None,
        entities: list[JSONDict] | None = None,
        message_id: int | None = None,
        **fields: Any,
    ) -> JSONDict:
        """Create and store a message with the chat's next message_id."""
        if message_id is None:
            message_id = self._next_message_ids.get(chat["id"], 1)
        self._next_message_ids[chat["id"]] = max(
            self._next_message_ids.get(chat["id"], 1), message_id + 1
        )
        message: JSONDict = {"message_id": message_id, "date": int(time.time()), "chat": chat}
        if sender is not None:
            message["from"] = sender
        if chat["type"] == "channel":
            message["sender_chat"] = chat
        if text is not None:
            message["text"] = text
            found = auto_entities(text) if entities is None else entities
            if found:
                message["entities"] = found
        message.update(fields)
        self.messages[(chat["id"], message_id)] = message
        return message

    def _find_message(
        self, chat_id: int | str, message_id: int | None, *, from_id: int
    ) -> JSONDict | None:
        if message_id is not None:
            return self.messages.get((chat_id, message_id))
        candidates = [
            m
            for (cid, _), m in self.messages.items()
            if cid == chat_id and m.get("from", {}).get("id") == from_id
        ]
        return max(candidates, key=lambda m: m["message_id"], default=None)

    def _reply_target(
        self, chat: JSONDict, reply_to_bot: bool, reply_to_message_id: int | None
    ) -> JSONDict | None:
        if reply_to_message_id is not None:
            target = self.messages.get((chat["id"], reply_to_message_id))
            if target is None:
                raise ValueError(f"no message {reply_to_message_id} in chat {chat['id']}")
        elif reply_to_bot:
            target = self._find_message(chat["id"], None, from_id=self.bot_user["id"])
            if target is None:
                target = self._new_message(
                    chat, sender=self._bot_sender(chat), text="(bot message)"
                )
        else:
            return None
        return {k: v for k, v in target.items() if k != "reply_to_message"}

    def _index_update(self, update: JSONDict) -> None:
        """Remember chats, users and messages mentioned by a pushed update."""
        messages = [update[k] for k in _MESSAGE_KINDS if isinstance(update.get(k), dict)]
        query = update.get("callback_query")
        if isinstance(query, dict) and isinstance(query.get("message"), dict):
            messages.append(query["message"])
        for message in messages:
            chat = message.get("chat")
            if not isinstance(chat, dict) or "id" not in chat or "message_id" not in message:
                continue
            self.chats.setdefault(chat["id"], chat)
            key = (chat["id"], message["message_id"])
            self.messages[key] = message
            self._next_message_ids[chat["id"]] = max(
                self._next_message_ids.get(chat["id"], 1), message["message_id"] + 1
            )
            sender = message.get("from")
            if isinstance(sender, dict) and "id" in sender and not sender.get("is_bot"):
                self.users.setdefault(sender["id"], sender)

    # -- validation shared by methods ----------------------------------------

    def _formatted_text(
        self, text: Any, parse_mode: Any, entities: Any, *, field: str = "message text"
    ) -> tuple[str, list[JSONDict]]:
        """Validate and parse a message text; return visible text and entities."""
        if text is None or text == "":
            raise _bad_request(f"{field} is empty")
        if not isinstance(text, str):
            raise _bad_request(f"{field} must be a string")
        mode = (parse_mode or "").lower() if isinstance(parse_mode, str) else ""
        if mode == "html":
            try:
                visible, found = _parse_html(text, self.strict_ampersand)
            except _HtmlError as exc:
                raise _bad_request(f"can't parse entities: {exc}") from None
        elif mode in ("", "markdown", "markdownv2"):
            visible = text
            found = list(entities) if isinstance(entities, list) and not mode else []
        else:
            raise _bad_request("unsupported parse_mode")
        visible, found = _strip_text(visible, found)
        if not visible:
            raise _bad_request(f"{field} is empty")
        if utf16_len(visible) > MAX_MESSAGE_LENGTH:
            raise _bad_request("message is too long")
        return visible, found

    @staticmethod
    def _reply_markup(markup: Any) -> JSONDict | None:
        """Validate reply_markup; return the inline keyboard a Message would carry."""
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise _bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" not in markup:
            keyboard = markup.get("keyboard")
            if keyboard is not None and not (
                isinstance(keyboard, list) and all(isinstance(row, list) for row in keyboard)
            ):
                raise _bad_request(
                    'field "keyboard" of the ReplyKeyboardMarkup should be an Array of Arrays'
                )
            return None
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise _bad_request(
                'field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays'
            )
        for row in rows:
            for button in row:
                if not isinstance(button, dict):
                    raise _bad_request(
                        "can't parse inline keyboard button: "
                        "InlineKeyboardButton should be an Object"
                    )
                label = button.get("text")
                if not isinstance(label, str) or not label.strip():
                    raise _bad_request(
                        "can't parse inline keyboard button: text must be a non-empty String"
                    )
                actions = [a for a in _BUTTON_ACTIONS if a in button]
                if not actions:
                    raise _bad_request(
                        "can't parse inline keyboard button: "
                        "Text buttons are unallowed in the inline keyboard"
                    )
                if "callback_data" in button:
                    data = button["callback_data"]
                    if (
                        not isinstance(data, str)
                        or not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES
                    ):
                        raise _bad_request("BUTTON_DATA_INVALID")
                if "url" in button and (
                    not isinstance(button["url"], str) or _checked_link(button["url"]) is None
                ):
                    raise _bad_request("BUTTON_URL_INVALID")
        return markup

    def _target_message(self, params: JSONDict) -> JSONDict | None:
        """The stored bot message an edit refers to; None for inline messages."""
        if params.get("inline_message_id"):
            return None
        chat_id, message_id = params.get("chat_id"), params.get("message_id")
        if chat_id is None or chat_id == "":
            raise _bad_request("chat_id is empty")
        if not isinstance(message_id, int):
            raise _bad_request("message identifier is not specified")
        message = self.messages.get((chat_id, message_id))
        if message is None:
            raise _bad_request("message to edit not found")
        sender = message.get("from")
        by_bot = (
            sender.get("id") == self.bot_user["id"]
            if sender
            else message["chat"]["type"] == "channel"
        )
        if not by_bot:
            raise _bad_request("message can't be edited")
        return message

    def _store_edit(self, old: JSONDict, changes: JSONDict) -> JSONDict:
        """Apply an edit (a falsy value removes the field), like Telegram refusing no-ops."""
        new = dict(old)
        for key, value in changes.items():
            if value:
                new[key] = value
            else:
                new.pop(key, None)
        if _visible_state(new) == _visible_state(old):
            raise _bad_request(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        new["edit_date"] = int(time.time())
        self.messages[(old["chat"]["id"], old["message_id"])] = new
        return new

    # -- Bot API methods ------------------------------------------------------

    def _get_me(self, params: JSONDict) -> JSONDict:
        return dict(self.bot_user)

    def _delete_webhook(self, params: JSONDict) -> bool:
        self.webhook = None
        if params.get("drop_pending_updates"):
            self._pending.clear()
        return True

    def _set_webhook(self, params: JSONDict) -> bool:
        url = params.get("url") or ""
        if not url:
            return self._delete_webhook(params)
        if not isinstance(url, str) or not url.lower().startswith("https://"):
            raise _bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise _bad_request("secret token contains unallowed characters")
        if params.get("drop_pending_updates"):
            self._pending.clear()
        self.webhook = {k: v for k, v in params.items() if k != "certificate"}
        return True

    @staticmethod
    def _commands_key(params: JSONDict) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    def _set_my_commands(self, params: JSONDict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _bad_request('parameter "commands" is required')
        if len(commands) > 100:
            raise _bad_request("BOT_COMMANDS_TOO_MUCH")
        for command in commands:
            if not isinstance(command, dict):
                raise _bad_request("BotCommand should be an Object")
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command", ""))):
                raise _bad_request("BOT_COMMAND_INVALID")
            description = command.get("description")
            if not isinstance(description, str) or not 1 <= len(description) <= 256:
                raise _bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[self._commands_key(params)] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    def _set_my_description(self, params: JSONDict) -> bool:
        return self._set_text(params, "description", 512)

    def _set_my_short_description(self, params: JSONDict) -> bool:
        return self._set_text(params, "short_description", 120)

    def _set_text(self, params: JSONDict, name: str, limit: int) -> bool:
        """setMyDescription / setMyShortDescription: at most `limit` characters, per
        language (an empty text clears it)."""
        text = params.get(name) or ""
        if not isinstance(text, str) or len(text) > limit:
            raise _bad_request(f"{name.upper()}_INVALID")
        self.descriptions[(name, str(params.get("language_code") or ""))] = text
        return True

    def _send_message(self, params: JSONDict) -> JSONDict:
        chat = self._chat_for_send(params.get("chat_id"))
        text, entities = self._formatted_text(
            params.get("text"), params.get("parse_mode"), params.get("entities")
        )
        markup = self._reply_markup(params.get("reply_markup"))
        reply_to = self._reply_to(chat, params)
        message = self._new_message(
            chat, sender=self._bot_sender(chat), text=text, entities=entities
        )
        if markup is not None:
            message["reply_markup"] = markup
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        return message

    def _reply_to(self, chat: JSONDict, params: JSONDict) -> JSONDict | None:
        reply = params.get("reply_parameters")
        if not isinstance(reply, dict):
            reply = {}
            if params.get("reply_to_message_id") is not None:
                reply = {
                    "message_id": params["reply_to_message_id"],
                    "allow_sending_without_reply": params.get("allow_sending_without_reply"),
                }
        if reply.get("message_id") is None:
            return None
        chat_id = reply.get("chat_id", chat["id"])
        target = self.messages.get((chat_id, reply["message_id"]))
        if target is None:
            if reply.get("allow_sending_without_reply"):
                return None
            raise _bad_request("message to be replied not found")
        return {k: v for k, v in target.items() if k != "reply_to_message"}

    def _edit_message_text(self, params: JSONDict) -> JSONDict | bool:
        text, entities = self._formatted_text(
            params.get("text"), params.get("parse_mode"), params.get("entities")
        )
        markup = self._reply_markup(params.get("reply_markup"))
        message = self._target_message(params)
        if message is None:
            return True
        return self._store_edit(
            message, {"text": text, "entities": entities, "reply_markup": markup}
        )

    def _answer_callback_query(self, params: JSONDict) -> bool:
        if params.get("callback_query_id") not in self.callback_query_ids:
            raise _bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        return True

    def _answer_inline_query(self, params: JSONDict) -> bool:
        if params.get("inline_query_id") not in self.inline_query_ids:
            raise _bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        results = params.get("results")
        if not isinstance(results, list):
            raise _bad_request('field "results" must be an Array')
        if len(results) > MAX_INLINE_RESULTS:
            raise _bad_request("RESULTS_TOO_MUCH")
        seen: set[str] = set()
        for result in results:
            if not isinstance(result, dict) or not result.get("type"):
                raise _bad_request(
                    'can\'t parse InlineQueryResult: field "type" must be a non-empty String'
                )
            result_id = str(result.get("id", ""))
            if not 1 <= len(result_id.encode("utf-8")) <= MAX_INLINE_RESULT_ID_BYTES:
                raise _bad_request("RESULT_ID_INVALID")
            if result_id in seen:
                raise _bad_request("RESULT_ID_DUPLICATE")
            seen.add(result_id)
            if result["type"] == "article" and not result.get("title"):
                raise _bad_request(
                    'can\'t parse InlineQueryResultArticle: field "title" must be a '
                    "non-empty String"
                )
            content = result.get("input_message_content")
            if result["type"] == "article" and not isinstance(content, dict):
                raise _bad_request("input_message_content is required for InlineQueryResultArticle")
            if isinstance(content, dict) and "message_text" in content:
                self._formatted_text(
                    content.get("message_text"), content.get("parse_mode"), content.get("entities")
                )
            self._reply_markup(result.get("reply_markup"))
        return True

    async def _get_updates(
        self, params: JSONDict, client_gone: Callable[[], bool]
    ) -> list[JSONDict] | None:
        """Long poll; returns None when the client disconnected while waiting."""
        if self.webhook:
            raise BotApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = params.get("offset")
        limit = params.get("limit") or 100
        timeout = params.get("timeout") or 0
        if not isinstance(offset, (int, type(None))) or not isinstance(limit, int):
            raise _bad_request("wrong parameter offset or limit specified")
        if not isinstance(timeout, (int, float)):
            raise _bad_request("wrong parameter timeout specified")
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = [str(a) for a in allowed] or None
        if offset:
            if offset > 0:
                self._pending = [u for u in self._pending if u["update_id"] >= offset]
            else:
                self._pending = self._pending[offset:]
            self._changed_now()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(max(float(timeout), 0.0), 50.0)
        while True:
            batch = [u for u in self._pending if self._is_allowed(u)][: max(1, min(limit, 100))]
            if batch or loop.time() >= deadline:
                break
            if client_gone():
                return None
            # Poll for a disconnect every 50 ms; new updates wake us at once.
            await self.wait_changed(min(0.05, deadline - loop.time()))
        if client_gone():
            return None
        self._delivered.update(u["update_id"] for u in batch)
        self._changed_now()
        return copy.deepcopy(batch)

    def _is_allowed(self, update: JSONDict) -> bool:
        kind = next((k for k in update if k != "update_id"), "")
        if self._allowed_updates is None:
            return kind not in _OPT_IN_UPDATES
        return kind in self._allowed_updates

    # -- HTTP -----------------------------------------------------------------

    def _canonical(self, method: str) -> str:
        """Telegram's spelling of a (case-insensitive) method name, if it is known."""
        if method.lower() == "getupdates":
            return "getUpdates"
        entry = self._handlers.get(method.lower())
        return entry[0] if entry else method

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """One keep-alive HTTP/1.1 connection: requests are answered in order."""
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer
        self.connection_count += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    break  # the client closed the connection
                except asyncio.LimitOverrunError:
                    await self._write(writer, _error(431, "Request Header Fields Too Large"), False)
                    break
                lines = head.decode("latin-1").lstrip("\r\n").split("\r\n")
                parts = lines[0].split(" ")
                if len(parts) != 3:
                    await self._write(writer, _error(400, "Bad Request"), False)
                    break
                http_method, target, version = parts
                headers: dict[str, str] = {}
                for line in lines[1:]:
                    if line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                connection = headers.get("connection", "").lower()
                keep_alive = (
                    "close" not in connection
                    if version == "HTTP/1.1"
                    else "keep-alive" in connection
                )
                if headers.get("expect", "").lower() == "100-continue":
                    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                body = await self._read_body(reader, headers)
                answer = await self._answer(
                    http_method,
                    target,
                    headers,
                    body,
                    lambda: reader.at_eof() or writer.is_closing(),
                )
                if answer is None:  # the client went away, or a fault resets the connection
                    _reset(writer)
                    break
                if not await self._write(writer, answer, keep_alive) or not keep_alive:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass  # a broken or malformed connection: just drop it
        except asyncio.CancelledError:
            # Only stop() cancels us; ending normally keeps Python 3.11's stream
            # machinery from logging "Exception in callback ... CancelledError".
            pass
        finally:
            # Stay registered until the socket is really closed, so stop() waits for it.
            writer.close()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await writer.wait_closed()
            self._connections.pop(task, None)

    @staticmethod
    async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            chunks = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
                if size == 0:
                    while await reader.readuntil(b"\r\n") != b"\r\n":
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(await reader.readexactly(size))
                await reader.readexactly(2)
        length = int(headers.get("content-length") or 0)
        return await reader.readexactly(length) if length else b""

    @staticmethod
    async def _write(writer: asyncio.StreamWriter, answer: _Answer, keep_alive: bool) -> bool:
        if writer.is_closing():
            return False
        status, content = answer
        if isinstance(content, str):
            body, kind = content.encode("utf-8"), "text/html"
        else:
            body = json.dumps(content, ensure_ascii=False, default=repr).encode("utf-8")
            kind = "application/json"
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Unknown"
        head = (
            f"HTTP/1.1 {status} {phrase}\r\n"
            "Server: botapi-standin\r\n"
            f"Content-Type: {kind}\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
        )
        try:
            writer.write(head.encode("latin-1") + body)
            await writer.drain()
        except ConnectionError:
            return False
        return True

    async def _answer(
        self,
        http_method: str,
        target: str,
        headers: dict[str, str],
        body: bytes,
        client_gone: Callable[[], bool],
    ) -> _Answer | None:
        """Route one request to a Bot API method, through the fault plan; record it.

        None: answer nothing and drop the connection.
        """
        path, _, query = target.partition("?")
        match = re.fullmatch(r"/bot([^/]*)/([^/]*)/?", path)
        if match is None:
            return _error(404, "Not Found")
        token, raw_method = match.groups()
        exchange = Exchange(
            method=self._canonical(raw_method) if raw_method else raw_method, params={}
        )
        self.exchanges.append(exchange)
        try:
            raw = dict(parse_qsl(query, keep_blank_values=True))
            raw.update(_parse_body(headers.get("content-type", ""), body))
            exchange.params = _coerce_params(raw)
            self._changed_now()
            if token != self.token:
                raise BotApiError(401, "Unauthorized")
            if http_method not in ("GET", "POST"):
                raise BotApiError(405, "Method Not Allowed")
            exchange.fault = self.faults.draw(exchange.method, exchange.params)
            exchange.injected = exchange.fault is not None
            if exchange.fault is not None and not exchange.fault.applied:
                return await self._inject(exchange, exchange.fault, None, client_gone)
            if exchange.method == "getUpdates":
                result = await self._get_updates(exchange.params, client_gone)
                if result is None:
                    exchange.abandoned = True
                    self._changed_now()
                    return None
            else:
                entry = self._handlers.get(raw_method.lower())
                if entry is None:
                    raise BotApiError(404, "Not Found: method not found")
                result = entry[1](exchange.params)
                if inspect.isawaitable(result):
                    result = await result
            exchange.effect = result
            answer: _Answer = (200, {"ok": True, "result": result})
        except BotApiError as exc:
            answer = (exc.error_code, exc.payload())
        except Exception as exc:  # a bug in the stand-in or a custom handler: make it visible
            answer = _error(500, f"Internal Server Error: {exc!r}")
        if exchange.fault is not None:
            return await self._inject(exchange, exchange.fault, answer, client_gone)
        return self._record(exchange, answer)

    async def _inject(
        self,
        exchange: Exchange,
        fault: Fault,
        answer: _Answer | None,
        client_gone: Callable[[], bool],
    ) -> _Answer | None:
        """What the client gets instead of ``answer`` (None if the call was not applied)."""
        if fault.kind == "error":
            return self._record(exchange, (fault.status, fault.payload()))
        if fault.kind == "html":
            return self._record(exchange, (fault.status, fault.page()))
        if fault.kind == "hold":
            self._changed_now()  # the effect, if applied, is visible while we hold
            loop = asyncio.get_running_loop()
            deadline = loop.time() + fault.seconds
            while not client_gone() and loop.time() < deadline:
                await asyncio.sleep(min(0.02, deadline - loop.time()))
            if answer is not None and not client_gone():
                return self._record(exchange, answer)  # a slow success
            exchange.abandoned = client_gone()
        self._changed_now()
        return None

    def _record(self, exchange: Exchange, answer: _Answer) -> _Answer:
        status, content = answer
        exchange.status = status
        exchange.response = copy.deepcopy(content) if isinstance(content, dict) else None
        self._changed_now()
        return answer


_Answer = tuple[int, JSONDict | str]
"""An HTTP status and its body: JSON, or a str for an HTML page."""


def _error(status: int, description: str) -> _Answer:
    return status, {"ok": False, "error_code": status, "description": description}


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close the connection with a TCP RST, as a crashing proxy does."""
    with contextlib.suppress(OSError):
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def _visible_state(message: JSONDict) -> tuple[Any, ...]:
    """What 'message is not modified' compares: content and inline keyboard."""
    return (
        message.get("text"),
        json.dumps(message.get("entities") or [], sort_keys=True),
        json.dumps(message.get("reply_markup") or None, sort_keys=True),
    )
