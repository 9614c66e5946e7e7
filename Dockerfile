# The Telegram bot in a slim image, as a non-root user.
#
#   docker build -t article-qa-bot .
#   docker run -d --name qa-bot --env-file bot.env -v qa-data:/app/data article-qa-bot
#
# Layers from the least to the most often changed: the locked dependencies, the package,
# the knowledge files. A code change rebuilds only the last two.
FROM python:3.11-slim

LABEL org.opencontainers.image.title="article-qa-bot" \
      org.opencontainers.image.description="A Telegram bot that answers questions about one news article, quoting the passage behind every answer." \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="0.1.0"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# 1. Dependencies, exactly the versions and files of the lock (hashes checked).
COPY requirements.lock /tmp/requirements.lock
RUN pip install --no-cache-dir --require-hashes --no-deps -r /tmp/requirements.lock \
    && rm /tmp/requirements.lock

# 2. The package, installed once into site-packages; no copy of the code stays behind.
COPY pyproject.toml README.md /tmp/src/
COPY bot/ /tmp/src/bot/
RUN pip install --no-cache-dir --no-deps /tmp/src \
    && rm -rf /tmp/src

# 3. The working folder holds only what maintainers edit (mount your own over it:
#    -v "$PWD/knowledge:/app/knowledge:ro") and the data volume; a numeric uid owns it.
WORKDIR /app
COPY knowledge/ knowledge/
RUN groupadd --gid 10001 bot \
    && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin bot \
    && mkdir data \
    && chown 10001:10001 data
USER 10001:10001

ENV QA_FILE=/app/knowledge/qa.yaml \
    DATABASE_PATH=/app/data/bot.sqlite3 \
    HEALTH_FILE=/tmp/bot.health

VOLUME ["/app/data"]
# Webhook mode listens here (python -m bot run --webhook); polling needs no port.
EXPOSE 8080

# Polling: healthy while getUpdates keeps succeeding; webhook: while /healthz answers.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "-m", "bot", "health"]

# SIGTERM (docker stop) ends polling or the webhook server, finishes the updates in
# hand, closes the database and exits 0; docker stop waits 10 s before SIGKILL.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "bot", "run"]
