"""The HTTP server: prediction endpoints (Loopwright's own, MLflow scoring, Open Inference Protocol v2),
feedback, deployments, health and Prometheus metrics, on FastAPI and uvicorn (``pip install
'loopwright[server]'``).

>>> from loopwright.server.app import create_app   # doctest: +SKIP
>>> app = create_app(lw.connect())                  # doctest: +SKIP
"""
