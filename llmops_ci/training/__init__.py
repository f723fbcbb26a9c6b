"""Domain-adaptation training: the `finetune` stage's entry point (``python -m llmops_ci.training``).

The infra layer runs this same entry point on this machine or in a SkyPilot
managed job; nothing here knows where it runs.
"""
