"""The composition root: the one package allowed to import every layer.

The ``workbench`` command (:mod:`launch.cli`) and the process entry points it starts live here, so the
core package (``workbench``) never imports its adapters (``server``, ``kernel_ext``):

* :mod:`launch.serve`: ``workbench serve`` / ``up``, the Litestar API under uvicorn;
* :mod:`launch.executor`: ``workbench executor``, a queue consumer with ``/health`` and ``/metrics``;
* :mod:`launch.scheduler`: ``workbench scheduler``, the scheduler leader or a standby, with ``/health``;
* :mod:`launch.health`: the small health/metrics app those two processes serve;
* :mod:`launch.serving`: running an ASGI app under uvicorn as this process's server.
"""
