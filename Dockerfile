# The thinbase edge app: a small, non-root image. The database is not in here: it is your Supabase
# project (migrations applied with `supabase db push`). Configure with environment variables (.env.example).
#   docker build -t thinbase-edge .
#   docker run --env-file .env -p 8000:8000 thinbase-edge

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY thinbase ./thinbase
COPY cli ./cli
COPY supabase/functions ./supabase/functions
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin thinbase
WORKDIR /app
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER thinbase
ENV PYTHONUNBUFFERED=1 THINBASE_HOST=0.0.0.0 THINBASE_PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status == 200 else 1)"
# `thinbase serve` runs uvicorn with its proxy-header handling off (FORWARDED_ALLOW_IPS does nothing): behind
# a load balancer or CDN, set TRUSTED_PROXY_HEADER to the header it sets; it is the only one trusted.
CMD ["thinbase", "serve"]
