"""depbot: dependency updates for pip-compile projects, tested, bisected and rolled back.

Where things are (each module's one job):

- ``cli``: parse arguments, call ``app``, render, turn errors into exit codes.
- ``app``: the one composition root; builds configuration, index, advisory sources, lock
  backend, forge, store and scratch checkout for a repository (cli, demo and webhook worker).
- ``pipeline``: the only place the stages meet, as a straight line over values.
- ``stages/``: ``discover`` → ``check`` → ``classify`` → ``plan`` → ``relock`` → ``verify``
  (test environments and bisect's probe) → ``bisect`` → ``publish`` (the PR record) →
  ``remember`` (which rollbacks block an update); ``dashboard`` (superseded batches and the
  dashboard document, after the batches).
- ``models``: the values that flow between the stages (``lockfiles``: the lockfile values);
  ``config``: the one reader of ``[tool.depbot]`` (its ``KEYS`` table is the docs' reference);
  ``pipconf``: pip's index settings, for ``config``; ``tables``: reading a TOML table key by
  key; ``errors``: the exception tree.
- Seams, one module per implementation: ``index/`` (where releases come from),
  ``advisories/`` (OSV, pip-audit, Safety, GitHub's Dependabot alerts), ``lock/`` (the
  requirements parser, the header replay, pip-tools and uv), ``forge/`` (git, the commit
  builder, origin's branches, the local and the GitHub forge).
- ``state/``: persistence, not a stage: the SQLite store and the run lock.
- ``render``: text, JSON and Markdown output; ``terminal``: streams and the spinner;
  ``secrets``: redaction at the output boundary; ``process``: a command in its own process
  group; ``http``: the one HTTP retry policy; ``github_api``: PyGithub, its retry budget and
  the token; ``ml/``: the torch family; ``demo/``: the
  offline demo; ``server/``: the webhook receiver (``depbot serve``).
- ``lock/interpreters``: the interpreter of a lockfile's own Python.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
