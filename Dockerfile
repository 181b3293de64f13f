# The exchange's image: `exchange serve` by default, `exchange worker` as the other command.
FROM python:3.11-slim
# DejaVu Sans lets invoices and statements print any account's name (billing/documents.py).
RUN apt-get update && apt-get install -y --no-install-recommends fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY exchange ./exchange
COPY adapters ./adapters
COPY buyers ./buyers
COPY billing ./billing
RUN pip install --no-cache-dir . && useradd --create-home exchange
USER exchange
EXPOSE 8000
CMD ["exchange", "serve", "--host", "0.0.0.0", "--port", "8000"]
