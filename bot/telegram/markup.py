"""Translate the core's plain-data `Button`s into Telegram's inline keyboards."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.replies import Button, Reply


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    """The reply's buttons as an inline keyboard, or None when it has none."""
    if not reply.buttons:
        return None
    return InlineKeyboardMarkup([[_button(b) for b in row] for row in reply.buttons])


def _button(button: Button) -> InlineKeyboardButton:
    label = button.label if len(button.label) <= 64 else button.label[:63] + "…"
    if button.url:
        return InlineKeyboardButton(label, url=button.url)
    return InlineKeyboardButton(label, callback_data=button.data or "noop")
