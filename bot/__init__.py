"""Answer questions about one news article, quoting the passage behind every answer.

The core (`knowledge`, `matching`, `replies`) is pure Python; `bot.telegram` is the thin
adapter that puts it on Telegram, and `bot.__main__` the command line.
"""

__version__ = "0.1.0"
