"""The lead exchange core: canonical types, pipeline, distribution, storage, API, jobs, CLI."""
