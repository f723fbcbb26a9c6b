"""Infrastructure layer: run a heavy stage from one task definition, here or on cloud GPUs.

``task.build_task`` turns llmops.yaml into a SkyPilot task (a plain dict in
SkyPilot's YAML schema). ``local.run_task`` executes its setup and run on this
machine; ``skypilot.launch`` submits it as a managed job. Only
``infra/skypilot.py`` imports sky.
"""
