# The exchange's image: `exchange serve` by default, `exchange worker` as the other command.
FROM python:3.11-slim
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
