"""The thin Telegram adapter: `app` wires everything in one place, `handlers` are short
callbacks that extract text, call the core, and send what `bot.replies` rendered."""
