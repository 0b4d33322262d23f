# One image for web (gunicorn), worker and beat (celery); see docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so code changes don't reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir -p dora ingest && touch dora/__init__.py ingest/__init__.py \
    && pip install -e . \
    && rm -rf dora ingest

COPY . .
# Editable install: settings find templates/ and static/ next to the code in /app.
RUN pip install --no-deps -e . \
    && DJANGO_SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput -v 0 \
    && useradd --system --uid 10001 --home-dir /app app \
    && chown -R app /app/staticfiles

USER app
EXPOSE 8000

# Liveness (/healthz: the process and its database); /readyz reports broker and cache too.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request, sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"

# gunicorn.conf.py keeps gunicorn's worker timeout above the app's database deadlines.
CMD ["gunicorn", "dora.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "2", "--access-logfile", "-", "--config", "gunicorn.conf.py"]
