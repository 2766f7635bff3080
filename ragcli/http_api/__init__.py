"""`rag serve`: an OpenAI-compatible HTTP API answering from the store (docs/serve.md).

Imports Starlette and uvicorn (the ragcli[serve] extra); the command imports this package
only when `rag serve` runs. app holds the routes, openai_shapes the request and response
shapes of OpenAI's chat API, queue the one worker thread the models run on with its bounded
queue, errors the HTTP failures, server the listening socket and uvicorn's life cycle.
"""
