"""Speech-to-text: the engine interface and vosk engine (engine), the models on disk (models), the
worker-process pool (pool, worker, session), the streaming pipeline with its voice gate (stream),
the errors sent between processes (errors), a scripted engine for tests (fake) and CER (metrics)."""
