"""Serving: workloads, batching and LLM scheduling simulators, KV cache, metrics (chapters 07-08)."""
