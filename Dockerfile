# A slim image that runs the Telegram bot: docker run -e TELEGRAM_BOT_TOKEN=... IMAGE
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATABASE_PATH=/app/data/bot.sqlite3

WORKDIR /app

# The package and its dependencies, from pyproject.toml; the knowledge beside it, where
# maintainers can mount their own folder over it (-v ./knowledge:/app/knowledge:ro).
COPY pyproject.toml README.md ./
COPY bot/ bot/
RUN pip install .
COPY knowledge/ knowledge/

RUN useradd --create-home --uid 10001 bot && mkdir -p /app/data && chown -R bot /app/data
USER bot

# Webhook mode listens here (python -m bot run --webhook); polling needs no port.
EXPOSE 8080
VOLUME ["/app/data"]

CMD ["python", "-m", "bot", "run"]
