"""depbot: dependency updates for pip-compile projects, tested, bisected and rolled back.

Where things are (each module's one job):

- ``cli``: parse arguments, call ``app``, render, turn errors into exit codes.
- ``app``: the one composition root; builds configuration, index, advisory sources, lock
  backend, forge, store and scratch checkout for a repository (cli, demo and webhook worker).
- ``pipeline``: the only place the stages meet, as a straight line over values.
- ``stages/``: ``discover`` → ``check`` → ``classify`` → ``plan`` → ``relock`` → ``verify``
  (test environments and bisect's probe) → ``bisect`` → ``publish`` (the PR record) →
  ``remember`` (which rollbacks block an update).
- ``models``: the values that flow between the stages; ``config``: the one reader of
  ``[tool.depbot]`` and of pip's index settings; ``errors``: the exception tree.
- Seams, one module per implementation: ``index/`` (where releases come from),
  ``advisories/`` (OSV, pip-audit, Safety), ``lock/`` (the requirements parser, the header
  replay, pip-tools and uv), ``forge/`` (git, the local forge).
- ``state/``: persistence, not a stage: the SQLite store and the run lock.
- ``render``: text, JSON and Markdown output; ``terminal``: streams and the spinner;
  ``http``: the one HTTP retry policy; ``ml/``: the torch family; ``demo/``: the offline demo.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
