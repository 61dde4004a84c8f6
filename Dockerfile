# The digitization pipeline with Tesseract, its models, Ghostscript and fonts.
# Same install steps as bin/setup (Debian 12 packages, pinned Python deps).
#   docker build -t digitize .
#   docker run --rm -v "$PWD/batch:/batch" -v "$PWD/digitize-data:/data" digitize run /batch
FROM python:3.11-slim-bookworm

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    DO_NOT_TRACK=1 \
    PREFECT_SERVER_ANALYTICS_ENABLED=false \
    PREFECT_SERVER_API_HOST=127.0.0.1 \
    OMP_THREAD_LIMIT=1 \
    DIGITIZE_WORK_DIR=/data/work \
    DIGITIZE_OUTPUT_DIR=/data/output \
    DIGITIZE_STORAGE__URL=file:///data/store \
    DIGITIZE_CATALOG__URL=sqlite:////data/catalog.sqlite3

RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      tesseract-ocr tesseract-ocr-script-cyrl tesseract-ocr-aze-cyrl tesseract-ocr-aze tesseract-ocr-rus \
      tesseract-ocr-osd tesseract-ocr-kaz tesseract-ocr-uzb tesseract-ocr-uzb-cyrl \
      ghostscript poppler-utils unpaper pngquant \
      fonts-urw-base35 fonts-noto-core \
      libvips42 \
      libicu-dev pkg-config g++ \
      nodejs npm \
      epubcheck \
      yaz \
 && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 1000 digitize
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY digitize ./digitize
COPY scanners ./scanners
COPY pipeline ./pipeline
COPY archive ./archive
COPY transliteration ./transliteration
COPY storage ./storage
COPY elibrary ./elibrary
COPY flows ./flows
COPY samples ./samples
COPY assembly ./assembly
COPY delivery ./delivery
# The viewers' browser libraries from the npm registry (web/install, as bin/setup does).
COPY web/package.json web/package-lock.json web/install ./web/
RUN web/install && rm -rf web/node_modules
RUN pip install --no-cache-dir -c constraints.txt . \
 && mkdir -p /data && chown digitize /data

USER digitize
VOLUME ["/data"]
ENTRYPOINT ["digitize"]
CMD ["--help"]
