"""Jobs: plain `async def job(ctx, ...)` functions, run in-process by the outbox runner."""
