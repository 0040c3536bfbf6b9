"""The ``healthscore`` commands, one module per workflow, each attached by ``register(app)``."""
